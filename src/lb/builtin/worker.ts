/**
 * The built-in engine as a process of its own: how it serves a load balancer inside a network
 * namespace (a Node process cannot move its sockets into another namespace). Started by
 * `WorkerInstance` with `ip netns exec`, it is driven over Node's IPC channel and exits when
 * that channel closes, so it never outlives the PocketStack that started it.
 *
 * argv: <load balancer id> <listen address>
 */
import { BuiltinInstance } from './instance.js';
import type { WorkerReply, WorkerRequest } from './protocol.js';
import { healthToWire } from './protocol.js';

const [lbId, address] = process.argv.slice(2);
if (!lbId || !address || !process.send) {
  process.stderr.write('usage: worker <load balancer id> <address> (started with an IPC channel)\n');
  process.exit(2);
}

const send = (m: WorkerReply) => process.send?.(m);
const instance = new BuiltinInstance(lbId, { address }, () => send({ event: 'health' }));

async function handle(req: WorkerRequest): Promise<unknown> {
  switch (req.op) {
    case 'apply':
      await instance.apply(req.cfg);
      return null;
    case 'health':
      return healthToWire(await instance.health());
    case 'counters':
      return [...(await instance.counters())];
    case 'stop':
      await instance.stop();
      return null;
  }
}

process.on('message', (req: WorkerRequest) => {
  handle(req).then(
    (result) => send({ id: req.id, ok: true, result }),
    (e: Error) => send({ id: req.id, ok: false, error: e.message }),
  );
});

process.on('disconnect', () => {
  void instance.stop().finally(() => process.exit(0));
});
send({ event: 'ready' });
