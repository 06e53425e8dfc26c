/**
 * One interactive session on a HAProxy stats socket: `prompt` mode (management.txt §9.3,
 * "Interactive mode") keeps the connection open, and every answer ends with the `> ` prompt, so
 * a thousand commands cost one connection rather than a thousand.
 */
import net from 'node:net';

const PROMPT = '\n> ';

export class CliSession {
  private buf = '';
  private waiter: (() => void) | null = null;
  private failure: Error | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      this.waiter?.();
    });
    const fail = (e: Error) => {
      this.failure ??= e;
      this.waiter?.();
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('stats socket closed')));
  }

  static async open(path: string, timeoutMs = 2000): Promise<CliSession> {
    const socket = net.connect(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const s = new CliSession(socket);
    try {
      await s.send('prompt', timeoutMs);
    } catch (e) {
      s.close();
      throw e;
    }
    return s;
  }

  /** Send one command; resolves its answer without the prompt, trimmed. */
  async send(command: string, timeoutMs = 2000): Promise<string> {
    if (command.includes('\n')) throw new Error('one command per line');
    this.socket.write(`${command}\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buf.indexOf(PROMPT);
      // The prompt also starts the session's first answer ("\n> " alone to `prompt`).
      if (end >= 0) {
        const answer = this.buf.slice(0, end);
        this.buf = this.buf.slice(end + PROMPT.length);
        return answer.trim();
      }
      if (this.failure) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`stats socket: no answer to "${command.split(' ').slice(0, 2).join(' ')}"`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = null;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
