/**
 * What every instance runs as PID 1, whatever its image: a small init in busybox sh (the host's
 * static busybox, put at /.ps/busybox through a read-only lower layer of the root file system),
 * doing what cloud-init does on a cloud image, and saying so on the console:
 *
 *   1. network, from the network_data.json Nova would give the instance (/.ps/seed): `ipv4_dhcp`
 *      networks by DHCP (udhcpc, from Neutron's dnsmasq), static ones (`ipv4`, `ipv6*`) as given;
 *   2. metadata: the config drive when there is one (/mnt/config), else the metadata service at
 *      169.254.169.254 (reached through the router, or the DHCP port on an isolated network);
 *   3. the hostname, the key pair in `authorized_keys` (root and the image's uid-1000 user), then
 *      an ssh server (dropbear or OpenSSH, if the image has one) and a login on the console;
 *   0. personality files (the seed's `files/`) written where they belong, before anything runs;
 *   4. user_data, when it is a script (`#!`), run as root inside, at every boot, in the
 *      background, its output on the console — except when the instance boots its rescue image
 *      (the seed's `rescue`): then nothing of the user's runs, and its own disk is /mnt/disk.
 *
 * On SIGTERM (stop, reboot) it asks every process to end, then ends. On SIGUSR1 (its NICs were
 * plugged in again) it configures the network again. No tenant input reaches this
 * text: everything the instance is told comes as files it reads at run time.
 */

/**
 * A shell script written in TypeScript: the raw text, with `$\\{` standing for the shell's `${`
 * (a template literal would interpolate it).
 */
const shell = (text: TemplateStringsArray): string => text.raw.join('').replaceAll('$\\{', '${');

/** JSON → `path<TAB>value` lines (objects by key, arrays by index), for the init to read with awk. */
export const JSON_AWK = String.raw`
function fail(m) { printf "json: %s\n", m > "/dev/stderr"; exit 1 }
function ws() { while (pos <= n && index(" \t\r\n", substr(s, pos, 1)) > 0) pos++ }
function str(   c, out) {
  pos++
  out = ""
  while (pos <= n) {
    c = substr(s, pos, 1)
    if (c == "\"") { pos++; return out }
    if (c == "\\") {
      pos++
      c = substr(s, pos, 1)
      if (c == "n") c = "\n"
      else if (c == "t") c = "\t"
      else if (c == "r") c = "\r"
      else if (c == "u") { pos += 4; c = "?" }
      out = out c
      pos++
      continue
    }
    out = out c
    pos++
  }
  fail("unterminated string")
}
function value(path,   c, k, i) {
  ws()
  c = substr(s, pos, 1)
  if (c == "{") {
    pos++; ws()
    if (substr(s, pos, 1) == "}") { pos++; return }
    for (;;) {
      ws(); k = str(); ws()
      if (substr(s, pos, 1) != ":") fail("expected :")
      pos++
      value(path == "" ? k : path "." k)
      ws(); c = substr(s, pos, 1); pos++
      if (c == "}") return
      if (c != ",") fail("expected , or }")
    }
  }
  if (c == "[") {
    pos++; ws()
    if (substr(s, pos, 1) == "]") { pos++; return }
    for (i = 0; ; i++) {
      value(path == "" ? i : path "." i)
      ws(); c = substr(s, pos, 1); pos++
      if (c == "]") return
      if (c != ",") fail("expected , or ]")
    }
  }
  if (c == "\"") { print path "\t" str(); return }
  k = ""
  while (pos <= n && index(",}] \t\r\n", substr(s, pos, 1)) == 0) { k = k substr(s, pos, 1); pos++ }
  print path "\t" k
}
{ s = s $0 "\n" }
END { n = length(s); pos = 1; value("") }
`;

/** udhcpc's event script: the lease's address, MTU, routes (option 121 before the router option, RFC 3442), DNS. */
export const UDHCPC_SCRIPT = shell`#!/.ps/busybox sh
B=/.ps/busybox
# Every command here delays the instance's first answer (a DISCOVER waits for deconfig, the first
# packet from outside for bound): what the shell can read itself is read, not run.
up() { read -r flags 2>/dev/null < "/sys/class/net/$interface/flags" && [ $((flags & 1)) = 1 ]; }
case "$1" in
deconfig)
  $B ip -4 addr flush dev "$interface"
  up || $B ip link set "$interface" up
  ;;
bound|renew)
  now=; read -r now 2>/dev/null < "/sys/class/net/$interface/mtu"
  [ -n "$mtu" ] && [ "$mtu" != "$now" ] && $B ip link set "$interface" mtu "$mtu"
  # bound follows a deconfig (udhcpc runs it before every new lease): no address to look for.
  if [ "$1" = bound ] || ! $B ip -4 addr show dev "$interface" | $B grep -q "inet $ip/"; then
    [ "$1" = bound ] || $B ip -4 addr flush dev "$interface"
    $B ip addr add "$ip/$\{mask:-24}" dev "$interface"
  fi
  if [ -n "$staticroutes" ]; then
    set -- $staticroutes
    while [ $# -ge 2 ]; do
      if [ "$2" = 0.0.0.0 ]; then $B ip route replace "$1" dev "$interface"
      else $B ip route replace "$1" via "$2" dev "$interface" onlink; fi
      shift 2
    done
  elif [ -n "$router" ]; then
    for r in $router; do $B ip route replace default via "$r" dev "$interface"; break; done
  fi
  if [ -n "$dns" ] && [ -w /etc/resolv.conf -o ! -e /etc/resolv.conf ]; then
    { [ -n "$domain" ] && echo "search $domain"; for d in $dns; do echo "nameserver $d"; done; } > /etc/resolv.conf 2>/dev/null
  fi
  echo "[init] $interface: $ip/$\{mask:-24} by DHCP from $serverid (lease $\{lease}s)" > /dev/console
  ;;
esac
exit 0
`;

export const INIT_SCRIPT = shell`#!/.ps/busybox sh
# PocketStack's instance init (PID 1). See src/dataplane/netns/machines/init.ts.
B=/.ps/busybox
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/.ps/bin HOME=/root TERM=vt100
SEED=/.ps/seed
say() { echo "[init] $*"; }
flat() { $B awk -f /.ps/json.awk; }
field() { $B awk -F '\t' -v k="$1" '$1 == k { print $2; exit }'; }

stopping=0
shutdown() {
  [ $stopping = 1 ] && return
  stopping=1
  say "shutting down"
  $B kill -TERM -1 2>/dev/null
  i=0
  while [ $i -lt 20 ] && [ -n "$($B ps -o pid= 2>/dev/null | $B grep -v -w -e 1 -e $$ | $B head -1)" ]; do $B usleep 100000; i=$((i + 1)); done
  $B kill -KILL -1 2>/dev/null
  $B sync
  exit 0
}
trap shutdown TERM INT

# Until the network is up, every command run is time before the instance answers: values the
# shell can read itself (read, case) are not asked of a process.
iid=; read -r iid 2>/dev/null < $SEED/instance-id
hn=; read -r hn 2>/dev/null < /proc/sys/kernel/hostname
say "PocketStack instance $iid booting: $hn"
[ -d /run ] && $B mount -t tmpfs -o nosuid,nodev,mode=755 run /run 2>/dev/null
$B mkdir -p /run/ps /tmp 2>/dev/null
$B ip link set lo up

# ---------------------------------------------------------------- personality files
if [ -f $SEED/files/index ]; then
  while read -r n path; do
    $B mkdir -p "$($B dirname "$path")" 2>/dev/null
    if $B cp "$SEED/files/$n" "$path" 2>/dev/null; then say "personality file $path written"; else say "personality file $path not written"; fi
  done < $SEED/files/index
fi

# ---------------------------------------------------------------- network (network_data.json)
# The interface with MAC $1, in $dev (empty: none).
ifname_of() {
  dev=
  for d in /sys/class/net/*; do
    a=; read -r a 2>/dev/null < "$d/address"
    [ "$a" = "$1" ] && { dev=$\{d##*/}; return; }
  done
}
# The interface of link $1 (as net_up found it), in $dev.
dev_of_link() {
  dev=
  while read -r id d; do [ "$id" = "$1" ] && { dev=$d; return; }; done < /run/ps/links
}
prefix_of() {
  echo "$1" | $B awk -F '[.:]' '{
    n = 0
    for (i = 1; i <= NF; i++) {
      v = $i; if (v == "") continue
      if (index($0, ":") > 0) { h = v; v = 0; while (length(h)) { v = v * 16 + index("0123456789abcdef", tolower(substr(h, 1, 1))) - 1; h = substr(h, 2) } b = 16 } else b = 8
      while (b-- > 0) { if (v % 2) n++; v = int(v / 2) }
    }
    print n }'
}
# The links (id, MAC) and networks (index, type, link) of network_data.json, one line each,
# read by one awk rather than a process per field.
NET_PLAN='
  $1 ~ /^links\.[0-9]+\.id$/ { split($1, p, "."); if (!(p[2] in id)) order[++nl] = p[2]; id[p[2]] = $2 }
  $1 ~ /^links\.[0-9]+\.ethernet_mac_address$/ { split($1, p, "."); mac[p[2]] = $2 }
  $1 ~ /^networks\.[0-9]+\.type$/ { split($1, p, "."); nets[++nn] = p[2]; type[p[2]] = $2 }
  $1 ~ /^networks\.[0-9]+\.link$/ { split($1, p, "."); link[p[2]] = $2 }
  END {
    for (i = 1; i <= nl; i++) print "link", id[order[i]], mac[order[i]]
    for (i = 1; i <= nn; i++) print "net", nets[i], type[nets[i]], link[nets[i]]
  }'
# Every NIC named in network_data.json, up and configured. Run at boot, and again on SIGUSR1:
# the host made the NICs again (their switch end went away and took them along), which to the
# guest is a hot-plug, as udev's "add" event would tell a cloud image to configure them.
net_up() {
  [ -f /run/ps/net ] || return 0
  : > /run/ps/links
  $B awk -F '\t' "$NET_PLAN" /run/ps/net > /run/ps/plan
  while read -r kind id mac; do
    [ "$kind" = link ] || continue
    ifname_of "$mac"
    [ -z "$dev" ] && { say "no interface has MAC $mac (link $id)"; continue; }
    echo "$id $dev" >> /run/ps/links
    $B ip link set "$dev" up
  done < /run/ps/plan
  while read -r kind n type link; do
    [ "$kind" = net ] || continue
    dev_of_link "$link"
    [ -z "$dev" ] && continue
    case "$type" in
    ipv4_dhcp)
      pid=; [ -f /run/ps/udhcpc.$dev.pid ] && read -r pid < /run/ps/udhcpc.$dev.pid && kill "$pid" 2>/dev/null
      hn=; read -r hn < /proc/sys/kernel/hostname
      $B udhcpc -i "$dev" -s /.ps/udhcpc.sh -t 20 -T 1 -A 1 -b -S -O staticroutes -O mtu -x hostname:"$hn" -p /run/ps/udhcpc.$dev.pid < /dev/null >/dev/null 2>&1 ||
        say "$dev: no DHCP answer"
      ;;
    ipv6_dhcp)
      say "$dev: DHCPv6 network: this init has no DHCPv6 client"
      ;;
    ipv4 | ipv6*)
      ip=$(field "networks.$n.ip_address" < /run/ps/net)
      mask=$(field "networks.$n.netmask" < /run/ps/net)
      [ -z "$ip" ] && continue
      $B ip addr replace "$ip/$(prefix_of "$mask")" dev "$dev" $( [ "$\{type#ipv6}" != "$type" ] && echo nodad)
      r=0
      while gw=$(field "networks.$n.routes.$r.gateway" < /run/ps/net) && [ -n "$gw" ]; do
        net=$(field "networks.$n.routes.$r.network" < /run/ps/net)
        rmask=$(field "networks.$n.routes.$r.netmask" < /run/ps/net)
        $B ip route replace "$net/$(prefix_of "$rmask")" via "$gw" dev "$dev" onlink 2>/dev/null
        r=$((r + 1))
      done
      say "$dev: $ip/$(prefix_of "$mask") ($type, from network_data.json)"
      ;;
    esac
  done < /run/ps/plan
}
[ -f $SEED/network_data.json ] && flat < $SEED/network_data.json > /run/ps/net
net_up
trap 'say "NICs plugged in again: configuring the network"; net_up' USR1

# ---------------------------------------------------------------- metadata
MD=http://169.254.169.254
if [ -f /mnt/config/openstack/latest/meta_data.json ]; then
  source="config drive"
  get() { $B cat "/mnt/config/$1" 2>/dev/null; }
else
  source="metadata service"
  # (busybox 1.35's wget -T crashes in the static build: a timeout wraps it instead)
  get() { $B timeout 3 $B wget -q -O - "$MD/$1" 2>/dev/null; }
fi
meta=""
for try in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
  meta=$(get openstack/latest/meta_data.json) && [ -n "$meta" ] && break
  $B usleep 250000
done
if [ -n "$meta" ]; then
  printf '%s\n' "$meta" | flat > /run/ps/meta
  # The hostname, the uuid and the keys in one read (each process here delays the ssh server).
  : > /run/ps/keys
  $B awk -F '\t' '
    $1 == "hostname" && !h { h = 1; host = $2 }
    $1 == "uuid" && !u { u = 1; uuid = $2 }
    $1 ~ /^public_keys\./ { print $2 > "/run/ps/keys" }
    END { print host; print uuid }' /run/ps/meta > /run/ps/md
  host=; uuid=; { read -r host; read -r uuid; } < /run/ps/md
  if [ -n "$host" ]; then
    $B hostname "$host"
    { echo "$host" > /etc/hostname; } 2>/dev/null
  fi
  say "metadata from the $source: instance $uuid, hostname $host"
  if [ -s /run/ps/keys ]; then
    for home in /root $($B awk -F: '$3 == 1000 { print $6 }' /etc/passwd 2>/dev/null); do
      owner=$($B stat -c %u:%g "$home" 2>/dev/null) || continue
      $B mkdir -p "$home/.ssh" && $B cp /run/ps/keys "$home/.ssh/authorized_keys" &&
        $B chmod 700 "$home/.ssh" && $B chmod 600 "$home/.ssh/authorized_keys" &&
        $B chown -R "$owner" "$home/.ssh" && say "key pair installed for $home"
    done
  fi
else
  say "no metadata from the $source"
fi

# ---------------------------------------------------------------- services
if [ -x /usr/sbin/dropbear ] || [ -x /sbin/dropbear ] || [ -x /usr/bin/dropbear ]; then
  for d in /usr/sbin/dropbear /sbin/dropbear /usr/bin/dropbear; do [ -x $d ] && break; done
  $B mkdir -p /etc/dropbear 2>/dev/null
  $d -R -s -p 22 && say "ssh: dropbear on port 22 (keys only)"
elif [ -x /usr/sbin/sshd ]; then
  $B mkdir -p /run/sshd && ssh-keygen -A >/dev/null 2>&1
  /usr/sbin/sshd -o PasswordAuthentication=no && say "ssh: OpenSSH on port 22 (keys only)"
fi

# user_data after the ssh server, as cloud-init runs user scripts in its final stage, after
# the init stage that installs the keys and starts sshd.
[ -n "$meta" ] && { get openstack/latest/user_data > /run/ps/user-data || $B rm -f /run/ps/user-data; }
if [ -f $SEED/rescue ]; then
  say "rescue: booted the rescue image; the instance's disk is at /mnt/disk; user_data not run"
elif [ -s /run/ps/user-data ]; then
  if [ "$($B head -c 2 /run/ps/user-data)" = "#!" ]; then
    $B chmod 700 /run/ps/user-data
    say "running user_data as root"
    ( cd / && /run/ps/user-data < /dev/null; say "user_data exited with status $?" ) &
  else
    say "user_data is not a script (no #! line): not run"
  fi
fi

( while [ $stopping = 0 ]; do
    [ -f /etc/issue ] && $B cat /etc/issue
    $B setsid $B login < /dev/console > /dev/console 2>&1
    $B usleep 200000
  done ) &

say "up"
while :; do
  wait
  $B usleep 500000 &
  wait $!
done
`;
