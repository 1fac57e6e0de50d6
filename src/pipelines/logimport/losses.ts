/**
 * What an import does about records the outbox lost: when a damaged outbox file was recovered (src/outbox
 * recovery.ts), every sink's loss is an outbox event (`recovery-loss`) with the count and the ids of the batches
 * that are gone. The import ledger remembers which batches each file's records went into, so the files whose
 * records were lost are forgotten in the ledger — the same run (or the next one) reads them again and the
 * idempotent sinks take them. The loss goes into the import's summary and its exit status; events already
 * handled are remembered in the ledger, so each is reported once.
 *
 * Also this run's figures per sink (delivered, dead-lettered, dropped in this run; pending now), kept apart from
 * the outbox's lifetime counters.
 */
import type { OutboxStore, SinkStatus } from '../../outbox/index.js';
import type { ImportLedger } from './ledger.js';

export interface ImportRecovery {
  /** Per sink (null: the cursors could not be read), the records lost (null: not known). */
  losses: { sink: string | null; records: number | null; message: string }[];
  /** Files forgotten in the ledger because records of theirs were lost: read again (this run, if among its inputs). */
  forgotten: string[];
  /** Lost batches no ledger entry accounts for (files imported by an older sigflow, or by another tool). */
  unattributed: boolean;
}

/**
 * Handles the outbox's `recovery-loss` events the ledger has not seen: forgets the files whose batches were lost
 * and saves the ledger at once. Returns null when there is nothing new.
 */
export function forgetLostFiles(store: OutboxStore, ledger: ImportLedger): ImportRecovery | null {
  // An outbox newer than the ledger's memory of it (deleted and started afresh): its events all count.
  const newest = store.events(1)[0]?.id ?? 0;
  const after = newest < ledger.lossEventsSeen ? 0 : ledger.lossEventsSeen;
  const events = store.events(10_000, { kind: 'recovery-loss', afterId: after }).sort((a, b) => a.id - b.id);
  if (events.length === 0) return null;
  const ranges = events.flatMap((e) => e.lostBatches ?? []);
  const { forgotten, unattributed } = ledger.forgetBatches(ranges);
  ledger.lossEventsSeen = events[events.length - 1].id;
  ledger.save();
  return {
    losses: events.map((e) => ({ sink: e.sink, records: e.records, message: e.message })),
    forgotten,
    unattributed,
  };
}

/** One sink's figures for one import run, beside its lifetime counters. */
export interface SinkRun {
  name: string;
  /** Records delivered in this run (also backlog of earlier runs delivered now). */
  delivered: number;
  deadLettered: number;
  /** Dropped in this run: disk budget, max age, corrupt, lost. */
  dropped: number;
  /** Pending now (the backlog the next run delivers). */
  pending: number;
  /** Pending when this run started (left by earlier runs). */
  pendingBefore: number;
  lifetime: { accepted: number; delivered: number; deadLettered: number; dropped: number };
}

const dropped = (s: SinkStatus) => s.droppedRecords + s.expiredRecords + s.corruptRecords + s.lostRecords;

/** This run's figures per sink from the status at the start and at the end. */
export function sinkRuns(before: readonly SinkStatus[], after: readonly SinkStatus[]): SinkRun[] {
  return after.map((a) => {
    const b = before.find((x) => x.name === a.name);
    return {
      name: a.name,
      delivered: a.deliveredRecords - (b?.deliveredRecords ?? 0),
      deadLettered: a.deadLetteredRecords - (b?.deadLetteredRecords ?? 0),
      dropped: dropped(a) - (b ? dropped(b) : 0),
      pending: a.pendingRecords,
      pendingBefore: b?.pendingRecords ?? 0,
      lifetime: {
        accepted: a.acceptedRecords,
        delivered: a.deliveredRecords,
        deadLettered: a.deadLetteredRecords,
        dropped: dropped(a),
      },
    };
  });
}
