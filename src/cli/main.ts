#!/usr/bin/env node
import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadConfig, type Config } from '../config.js';
import { Names } from '../dataplane/netns/names.js';
import { teardown } from '../dataplane/netns/down.js';
import { preflight, releaseLock, takeLock } from '../dataplane/netns/preflight.js';
import { Cloud } from '../server.js';

const USAGE = `usage: pocketstack <command> [options]

commands:
  serve           start the cloud (identity :5000, network :9696 …) on this machine
  dataplane down  remove every namespace and host link the netns data plane owns (and nothing else)

serve options:
  --host ADDR         address to listen on (default 127.0.0.1; POCKETSTACK_HOST)
  --data-dir DIR      where state lives (default ./.pocketstack; POCKETSTACK_DATA_DIR)
  --database URL      sqlite:<file> or postgres://… (default sqlite in the data dir)
  --log-level LEVEL   trace|debug|info|warn|error (default info)
  --dataplane KIND    noop (default) or netns (root: namespaces, bridges, nftables, iptables)
  --run-user-data     netns: run instances' user_data scripts, unprivileged (off by default)

dataplane down options:
  --prefix XX         the data plane's two-character prefix (default ps; POCKETSTACK_DATAPLANE_PREFIX)
`;

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      database: { type: 'string' },
      'log-level': { type: 'string' },
      dataplane: { type: 'string' },
      'run-user-data': { type: 'boolean' },
    },
  });
  const overrides: Partial<Config> = {};
  if (values.host) overrides.host = values.host;
  if (values['data-dir']) overrides.dataDir = values['data-dir'];
  if (values.database) overrides.databaseUrl = values.database;
  if (values['log-level']) overrides.logLevel = values['log-level'];
  if (values.dataplane) overrides.dataplane = values.dataplane as Config['dataplane'];
  if (values['run-user-data']) overrides.runUserData = true;
  const config = loadConfig(overrides);
  const started = performance.now();
  // Logs go to stderr as JSON lines; stdout carries the human summary below.
  const log = pino({ level: config.logLevel }, pino.destination(2));
  const cloud = await Cloud.create(config, log);
  const boot = await cloud.bootstrap();
  const endpoints = await cloud.listen();
  const dashboard = await cloud.listenDashboard();
  await cloud.startDataPlane();
  const ms = Math.round(performance.now() - started);

  const lines = [
    `PocketStack is up in ${ms} ms${boot.firstStart ? ' (first start: bootstrapped identity and the public network)' : ''}`,
    ...endpoints.map((e) => `  ${e.service.padEnd(14)} ${e.url}`),
    `  dashboard      ${'url' in dashboard ? dashboard.url : dashboard.error}`,
    `  data           ${config.dataDir}`,
    `  database       ${config.databaseUrl.replace(/\/\/[^@/]*@/, '//***@')}`,
    `  credentials    source ${config.dataDir}/openrc-demo.sh   (or openrc-admin.sh; clouds.yaml is there too)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await cloud.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

async function dataplane(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'down') {
    process.stderr.write(`pocketstack: unknown dataplane command '${sub ?? ''}' (try: pocketstack dataplane down)\n`);
    process.exit(2);
  }
  const { values } = parseArgs({ args: rest, options: { prefix: { type: 'string' } } });
  const why = await preflight();
  if (why) throw new Error(why);
  const names = new Names(values.prefix ?? loadConfig().dataplanePrefix);
  // A running server would rebuild everything at once: it has to stop first.
  takeLock(names.prefix);
  const started = performance.now();
  const removed = await teardown(names);
  releaseLock(names.prefix);
  const ms = Math.round(performance.now() - started);
  process.stdout.write(
    `removed ${removed.namespaces.length} namespaces and ${removed.links.length} host links in ${ms} ms` +
      `${removed.namespaces.length ? `\n  ${[...removed.namespaces, ...removed.links].join(' ')}` : ''}\n`,
  );
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'serve':
      await serve(rest);
      break;
    case 'dataplane':
      await dataplane(rest);
      break;
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      break;
    default:
      process.stderr.write(`pocketstack: unknown command '${cmd}'\n${USAGE}`);
      process.exit(2);
  }
}

main().catch((e) => {
  process.stderr.write(`pocketstack: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
