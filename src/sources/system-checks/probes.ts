/**
 * What the `system-checks` source reads, each a small reader of its own: load averages, memory, filesystem usage
 * (statfs), uptime and boot time, the CPU's temperature (a thermal zone, where the machine has one) and the
 * resident memory of sigflow itself. Readers that can fail (a path not mounted, a sensor that errs) say why
 * instead of throwing; the others cannot fail.
 */
import { promises as fsp } from 'node:fs';
import { freemem, loadavg, totalmem, uptime } from 'node:os';
import { join } from 'node:path';
import { systemReason } from '../../io/index.js';
import type { FieldValue } from '../../records/index.js';

type Fields = Record<string, FieldValue>;

/** Rounded to 2 decimals (percentages, °C): the noise below is not worth storing. */
const r2 = (x: number) => Math.round(x * 100) / 100;

export function loadFields(out: Fields): void {
  const [l1, l5, l15] = loadavg();
  out.load_1 = l1;
  out.load_5 = l5;
  out.load_15 = l15;
}

/** Total and available memory (Linux: MemAvailable, what can be had without swapping) and the share in use. */
export function memoryFields(out: Fields): void {
  const total = totalmem();
  const available = freemem();
  out.mem_total_bytes = total;
  out.mem_available_bytes = available;
  out.mem_used_percent = total > 0 ? r2(((total - available) / total) * 100) : 0;
}

/** A filesystem's size and use, as `df` shows it: used / (used + available to unprivileged users). */
export async function diskFields(path: string): Promise<Fields | string> {
  try {
    const s = await fsp.statfs(path);
    const total = s.blocks * s.bsize;
    const used = (s.blocks - s.bfree) * s.bsize;
    const available = s.bavail * s.bsize;
    return {
      disk_total_bytes: total,
      disk_used_bytes: used,
      disk_available_bytes: available,
      disk_used_percent: used + available > 0 ? r2((used / (used + available)) * 100) : 0,
    };
  } catch (e) {
    return systemReason(e);
  }
}

/** The boot time (s since the epoch): Linux's `btime` from /proc/stat, or now − uptime elsewhere. */
export async function bootTimeSeconds(): Promise<number> {
  const text = await fsp.readFile('/proc/stat', 'latin1').catch(() => '');
  const m = /^btime\s+(\d+)$/m.exec(text);
  return m ? Number(m[1]) : Math.round(Date.now() / 1000 - uptime());
}

export function uptimeFields(out: Fields, bootTime: number): void {
  out.uptime_seconds = uptime();
  out.boot_time_seconds = bootTime;
}

export interface ThermalZone {
  /** e.g. `thermal_zone0` */
  name: string;
  /** The kernel's name for what it measures: `x86_pkg_temp`, `cpu-thermal`, `soc_thermal`, `acpitz` … */
  type: string;
  tempPath: string;
}

/** Zone types that are the CPU (package, SoC), preferred over any other zone. */
const CPU_TYPE = /x86_pkg|cpu|soc|coretemp|k10temp|package/i;

/**
 * The thermal zone that measures the CPU: the first whose type looks like one, else the first zone with a
 * readable temperature; null when there is none (a VM, a container without /sys, a machine without sensors).
 */
export async function findCpuZone(dir: string): Promise<ThermalZone | null> {
  let names: string[];
  try {
    names = (await fsp.readdir(dir)).filter((n) => /^thermal_zone\d+$/.test(n));
  } catch {
    return null;
  }
  names.sort((a, b) => Number(a.slice(12)) - Number(b.slice(12)));
  const zones: ThermalZone[] = [];
  for (const name of names) {
    const type = (await fsp.readFile(join(dir, name, 'type'), 'utf8').catch(() => '')).trim();
    const zone = { name, type: type || name, tempPath: join(dir, name, 'temp') };
    if ((await readCelsius(zone)) !== null) zones.push(zone);
  }
  return zones.find((z) => CPU_TYPE.test(z.type)) ?? zones[0] ?? null;
}

/** The zone's temperature in °C (the file holds m°C), or null when it cannot be read now. */
export async function readCelsius(zone: ThermalZone): Promise<number | null> {
  const text = await fsp.readFile(zone.tempPath, 'utf8').catch(() => null);
  if (text === null || !/^-?\d+$/.test(text.trim())) return null;
  return Number(text.trim()) / 1000;
}

/** A process's resident set in bytes (Linux: VmRSS of /proc/<pid>/status), or null. */
async function rssOf(pid: number): Promise<number | null> {
  const text = await fsp.readFile(`/proc/${pid}/status`, 'latin1').catch(() => null);
  const m = text === null ? null : /^VmRSS:\s+(\d+) kB$/m.exec(text);
  return m ? Number(m[1]) * 1024 : null;
}

/**
 * The resident memory of sigflow as a whole: the supervisor (`sigflow run`, process `parent`) and the units it
 * runs in processes of their own (its children running unit-process; the programs of exec procedures are not
 * counted). Linux only (/proc); else null.
 */
export async function agentRssBytes(parent: number): Promise<number | null> {
  const own = await rssOf(parent);
  if (own === null) return null;
  const tasks = await fsp.readdir(`/proc/${parent}/task`).catch(() => [] as string[]);
  const children = new Set<number>();
  for (const t of tasks) {
    const text = await fsp.readFile(`/proc/${parent}/task/${t}/children`, 'latin1').catch(() => '');
    for (const pid of text.split(/\s+/)) if (pid) children.add(Number(pid));
  }
  let sum = own;
  for (const pid of children) {
    const cmd = await fsp.readFile(`/proc/${pid}/cmdline`, 'latin1').catch(() => '');
    if (cmd.includes('unit-process')) sum += (await rssOf(pid)) ?? 0;
  }
  return sum;
}
