/**
 * The `system-checks` source: the machine's health as records, on wall-clock multiples of `every` — load
 * averages, memory, filesystem usage of `paths`, uptime and boot time, the CPU's temperature where there is a
 * thermal zone, and the resident memory of sigflow. Each record is timed at its scheduled tick, not when the
 * reads finished, so the points of every box line up. Ivy's system-checks procedure, as a unit of `sigflow run`.
 */
import { hostname } from 'node:os';
import type { LiveSource, SourceContext } from '../../pipelines/live/index.js';
import { AlignedSchedule } from '../../pipelines/live/index.js';
import { type FieldValue, msToNs, type TelemetryRecord } from '../../records/index.js';
import { formatDuration } from '../../units/index.js';
import type { SystemChecksSourceOptions } from './config.js';
import {
  agentRssBytes,
  bootTimeSeconds,
  diskFields,
  findCpuZone,
  loadFields,
  memoryFields,
  readCelsius,
  type ThermalZone,
  uptimeFields,
} from './probes.js';

export class SystemChecksSource implements LiveSource {
  /** Paths whose filesystem could not be read, with why (said once until it changes). */
  private readonly diskDown = new Map<string, string>();

  constructor(
    private readonly o: SystemChecksSourceOptions,
    /** `sigflow run`'s process, whose memory `agent_rss_bytes` reports (none outside sigflow run). */
    private readonly supervisorPid?: number,
  ) {}

  async run(ctx: SourceContext): Promise<void> {
    const o = this.o;
    const tags = o.tags ?? { host: hostname() };
    const zone = await findCpuZone(o.thermal_dir);
    const bootTime = await bootTimeSeconds();
    ctx.state(
      true,
      `reporting ${o.measurement} every ${formatDuration(BigInt(o.every) * 1_000_000n)} on wall-clock multiples: load, memory, disk of ${o.paths.join(', ')}, uptime, ${
        zone ? `CPU temperature (${zone.name}: ${zone.type})` : 'no CPU temperature (no thermal zone)'
      }, RSS`,
    );
    const schedule = new AlignedSchedule(o.every);
    for (;;) {
      const tick = await schedule.wait(ctx.signal);
      if (tick === null) break;
      if (tick.missed > 0) {
        ctx.count('missed_ticks', tick.missed);
        ctx.logger.warn(
          { missed: tick.missed },
          `${tick.missed} tick(s) skipped: reached too late (a blocked process, a suspended machine, a clock jump, or an outbox that kept the previous records waiting)`,
        );
      }
      const records = await this.read(msToNs(tick.time), tags, zone, bootTime, ctx);
      await ctx.records(records);
      ctx.count('ticks');
    }
  }

  /** Every reading of one tick, timed at the tick: the machine's record, and one per readable path. */
  private async read(
    time: bigint,
    tags: Readonly<Record<string, string>>,
    zone: ThermalZone | null,
    bootTime: number,
    ctx: SourceContext,
  ): Promise<TelemetryRecord[]> {
    const o = this.o;
    const fields: Record<string, FieldValue> = {};
    loadFields(fields);
    memoryFields(fields);
    uptimeFields(fields, bootTime);
    if (zone) {
      const c = await readCelsius(zone);
      if (c !== null) fields.cpu_temp_celsius = c;
    }
    fields.rss_bytes = process.memoryUsage.rss();
    const agent = this.supervisorPid === undefined ? null : await agentRssBytes(this.supervisorPid);
    if (agent !== null) fields.agent_rss_bytes = agent;
    const records: TelemetryRecord[] = [{ time, measurement: o.measurement, tags, fields }];
    for (const path of o.paths) {
      const disk = await diskFields(path);
      if (typeof disk === 'string') {
        ctx.count('disk_errors');
        if (this.diskDown.get(path) !== disk)
          ctx.logger.warn({ path }, `cannot read the filesystem of ${path}: ${disk} (said once until it changes)`);
        this.diskDown.set(path, disk);
        continue;
      }
      if (this.diskDown.delete(path)) ctx.logger.info({ path }, `the filesystem of ${path} can be read again`);
      records.push({ time, measurement: o.measurement, tags: { ...tags, path }, fields: disk });
    }
    return records;
  }
}
