import type { Explanation } from './model.js';

/** An explanation as `pocketstack explain` prints it: the verdict, the hops, the fix, the probe. */
export function explanationText(e: Explanation): string {
  const lines: string[] = [];
  const p = e.packet;
  const what = `${p.protocol}${p.port !== null ? `/${p.port}` : ''}${p.src ? ` ${p.src}` : ''}${p.dst ? ` → ${p.dst}` : ''}`;
  lines.push(`${e.verdict.toUpperCase()}  ${what}`);
  lines.push(`  ${e.reason}`);
  lines.push('');
  const width = Math.max(...e.hops.map((h) => h.step.length), 4);
  e.hops.forEach((h, i) => {
    const mark = h.verdict === 'pass' ? 'ok ' : h.verdict === 'drop' ? 'XX ' : '   ';
    lines.push(`${String(i + 1).padStart(3)}. ${mark}${h.step.padEnd(width)}  ${h.detail}`);
    const ids = (h.objects ?? []).filter((o) => o.id).map((o) => `${o.kind} ${o.id}`);
    if (ids.length) lines.push(`${' '.repeat(9 + width)}(${ids.join(', ')})`);
  });
  if (e.fix) lines.push('', `fix: ${e.fix}`);
  if (e.probe) lines.push('', `probe: ${e.probe.detail}${e.probe.agrees === true ? ' — the kernel agrees with the model' : ''}`);
  return `${lines.join('\n')}\n`;
}
