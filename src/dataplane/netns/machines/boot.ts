/**
 * How an instance starts, as the two scripts the host runs (POSIX sh, parameters only through
 * PS_* environment variables, never through the text):
 *
 *   OUTER, as the host's root, in a private mount namespace of its own:
 *     - joins the instance's control groups (everything after is accounted to the instance);
 *     - gives the console (a pty, our stdin) to the instance's root;
 *     - mounts the root file system: overlay of the image (lower, shared, read-only) and the
 *       instance's writes (upper), with the init's files as a second read-only lower layer;
 *     - when rescued (the root is then the rescue image's), mounts the instance's own root (its
 *       image and its writes) at /mnt/disk, as Nova attaches a rescued server's disk;
 *     - binds the seed (what the init is told) and the config drive read-only into it. Mounts
 *       made here are locked for the instance: its root can neither unmount nor remount them;
 *     - enters the instance's user and network namespaces (made beforehand, so the data plane
 *       could wire its NICs) as their root, and creates mount, PID, UTS, IPC and cgroup
 *       namespaces owned by that user namespace.
 *   INNER, as the instance's root, PID 1 of its PID namespace, run by the static busybox the
 *   instance's init runs on (each of its commands starts in a millisecond or two where
 *   util-linux's mount takes several: they are the larger part of the time from spawn to init,
 *   and a boot waits for every one):
 *     - its own /proc, /sys (read-only), /dev (a tmpfs with the harmless devices bound in, its own
 *       devpts, the console), the hostname;
 *     - pivot_root into the root file system and detach the host's: nothing of the host's file
 *       systems is reachable any more;
 *     - exec the init with an empty environment.
 */

export const OUTER_SCRIPT = `set -eu
for f in $PS_CGROUPS; do echo $$ > "$f"; done
chown "$PS_UID:$PS_UID" /proc/self/fd/0 2>/dev/null || true
mkdir -p "$PS_UPPER" "$PS_WORK"
chown "$PS_UID:$PS_UID" "$PS_UPPER"
mount -t overlay overlay -o "lowerdir=$PS_LOWER,upperdir=$PS_UPPER,workdir=$PS_WORK" "$PS_ROOT"
mount --bind "$PS_SEED" "$PS_ROOT/.ps/seed"
mount -o remount,bind,ro,nosuid,nodev "$PS_ROOT/.ps/seed"
# A mount point inside the root, made without following a symbolic link the image or the
# instance's writes put on the way (the host's root would follow it out of the instance).
mountpoint_in_root() {
  p=$PS_ROOT
  for c in $(echo "$1" | tr / ' '); do
    p=$p/$c
    if [ -L "$p" ]; then echo "[pocketstack] /$1 is not mounted: a symbolic link is in the way"; return 1; fi
    [ -d "$p" ] || mkdir "$p" || return 1
  done
}
if [ -n "$PS_DISK_LOWER" ] && mountpoint_in_root mnt/disk; then
  mkdir -p "$PS_DISK_UPPER" "$PS_DISK_WORK"
  chown "$PS_UID:$PS_UID" "$PS_DISK_UPPER"
  mount -t overlay overlay -o "lowerdir=$PS_DISK_LOWER,upperdir=$PS_DISK_UPPER,workdir=$PS_DISK_WORK" "$PS_ROOT/mnt/disk"
fi
if [ -n "$PS_CONFIG" ] && mountpoint_in_root mnt/config; then
  mount --bind "$PS_CONFIG" "$PS_ROOT/mnt/config"
  mount -o remount,bind,ro,nosuid,nodev "$PS_ROOT/mnt/config"
fi
exec nsenter --user="$PS_USERNS" --net="$PS_NETNS" -- unshare --mount --pid --uts --ipc --cgroup --fork --kill-child -- "$PS_BUSYBOX" sh -c "$PS_INNER"
`;

export const INNER_SCRIPT = `set -eu
B=$PS_BUSYBOX
R=$PS_ROOT
$B mount --rbind "$R" "$R"
for d in proc sys dev run tmp; do [ -d "$R/$d" ] || $B mkdir -p "$R/$d"; done
$B mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
$B mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
$B mount -t tmpfs -o nosuid,mode=755,size=4m dev "$R/dev"
for d in null zero full random urandom tty; do : > "$R/dev/$d"; $B mount --bind "/dev/$d" "$R/dev/$d"; done
: > "$R/dev/console"
$B mount --bind "$($B readlink /proc/self/fd/0)" "$R/dev/console"
$B mkdir "$R/dev/pts" "$R/dev/shm" "$R/dev/.oldroot"
$B mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$R/dev/pts"
$B mount -t tmpfs -o nosuid,nodev,mode=1777 shm "$R/dev/shm"
$B ln -s pts/ptmx "$R/dev/ptmx"
$B ln -s /proc/self/fd "$R/dev/fd"
$B hostname "$PS_HOSTNAME"
cd "$R"
$B pivot_root . dev/.oldroot
exec /.ps/busybox sh -c '/.ps/busybox umount -l /dev/.oldroot && /.ps/busybox rmdir /dev/.oldroot && cd / && exec /.ps/busybox env -i /.ps/busybox sh /.ps/init'
`;

/**
 * A read-only view of an instance's root file system (its writes over its image) for a snapshot,
 * mounted as the host's root in a private mount namespace, then archived as the root of the
 * tools' user namespace so that owners come out as the instance sees them.
 */
export const SNAPSHOT_SCRIPT = `set -eu
mount -t overlay overlay -o "ro,lowerdir=$PS_LOWER" "$PS_MNT"
cd "$PS_MNT"
exec nsenter --user="$PS_USERNS" -- tar -c -f - --numeric-owner --one-file-system .
`;

/** A tar image (read as the host's root) extracted by the tools' user namespace's root into the cache. */
export const TAR_UNPACK_SCRIPT = `set -eu
cd "$PS_TARGET"
exec nsenter --user="$PS_USERNS" -- tar -x -f - $PS_TAR_FLAGS --numeric-owner --same-permissions --delay-directory-restore --exclude=./dev/* --exclude=dev/* < "$PS_IMAGE"
`;

/**
 * An image's raw disk, loop-mounted read-only in a private mount namespace, copied into the
 * cache directory by a tar pipe whose writing end runs in the tools' user namespace (owners are
 * shifted into the instances' range; nothing outside the target can be written).
 */
export const RAW_UNPACK_SCRIPT = `set -eu
mount -o "ro,loop,nosuid,nodev,noexec$PS_MOUNT_OPTS" "$PS_IMAGE" "$PS_MNT"
tar -C "$PS_MNT" -c -f - --numeric-owner . | (cd "$PS_TARGET" && nsenter --user="$PS_USERNS" -- tar -x -f - --numeric-owner --same-permissions --delay-directory-restore)
`;
