// The engine watchdog: a request whose engine makes no progress in work done
// for the configured time is considered hung. Progress is a progress message
// whose stage or fraction differs from the last one; a message that repeats
// them (an engine stuck in a loop that keeps reporting) does not count, so a
// hang is stopped after the timeout, not whenever the messages stop.

import type { Progress } from './protocol';

/** The clock and timers the watchdog uses (the real ones, or a fake in tests). */
export interface WatchdogClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: WatchdogClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class ProgressWatchdog {
  private handle: unknown;
  private lastWork = '';
  private lastWorkAt = 0;
  private stopped = true;

  /** `onExpire(idleMs)` runs once when `timeoutMs` pass without progress in work done. */
  constructor(
    private readonly timeoutMs: number,
    private readonly onExpire: (idleMs: number) => void,
    private readonly clock: WatchdogClock = realClock,
  ) {}

  /** Arms the watchdog: the request has started. */
  start(): void {
    this.stopped = false;
    this.lastWork = '';
    this.lastWorkAt = this.clock.now();
    this.schedule(this.timeoutMs);
  }

  /** A progress message: counts as work done (and re-arms) only when its stage or fraction changed. Returns whether it did. */
  progress(p: Progress): boolean {
    if (this.stopped) return false;
    const work = `${p.stage}\u0000${p.fraction ?? ''}`;
    if (work === this.lastWork) return false;
    this.lastWork = work;
    this.lastWorkAt = this.clock.now();
    return true;
  }

  /** Milliseconds since the last progress in work done (or the start). */
  get idleMs(): number {
    return this.clock.now() - this.lastWorkAt;
  }

  /** Disarms it: the request settled. */
  stop(): void {
    this.stopped = true;
    if (this.handle !== undefined) this.clock.clearTimeout(this.handle);
    this.handle = undefined;
  }

  // One timer at a time: when it fires early (work was done since), it waits for the rest.
  private schedule(ms: number): void {
    if (this.handle !== undefined) this.clock.clearTimeout(this.handle);
    this.handle = this.clock.setTimeout(() => {
      this.handle = undefined;
      if (this.stopped) return;
      const idle = this.idleMs;
      if (idle >= this.timeoutMs) {
        this.stopped = true;
        this.onExpire(idle);
      } else {
        this.schedule(this.timeoutMs - idle);
      }
    }, ms);
  }
}
