/** Admin passwords Nova generates (nova/utils.py generate_password) when a request names none. */
import { randomInt } from 'node:crypto';

const PASSWORD_GROUPS = ['23456789', 'ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz'];

/** 12 characters, at least one of each group, no look-alikes (0/O, 1/l/I). */
export function generatePassword(length = 12): string {
  const all = PASSWORD_GROUPS.join('');
  const chars = PASSWORD_GROUPS.map((g) => g[randomInt(g.length)]);
  while (chars.length < length) chars.push(all[randomInt(all.length)]);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j], chars[i]];
  }
  return chars.join('');
}
