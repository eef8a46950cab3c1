/**
 * How the Mockstagram API answered while one job was being tried: the share of all of this
 * fetcher's attempts in that time that failed transiently (5xx, 408, 429, timeout, connection
 * error). A job that runs out of attempts while most of everyone's attempts failed too is held
 * and tried again instead of dead-lettered: the upstream is down, and its failures say nothing
 * about the job. When others succeeded meanwhile, the failures are the job's own.
 */
export interface OutageSettings {
  /** Above this share of transient failures the upstream is in an outage (`FETCHER_OUTAGE_FAILURE_RATE`; 1: never). */
  failureRate: number;
  /** Fewer attempts than this (everyone's, during the job's tries) say nothing either way (`FETCHER_OUTAGE_MIN_REQUESTS`). */
  minRequests: number;
}

/** A point in the attempt counts, taken when a job makes its first attempt. */
export interface HealthMark {
  attempts: number;
  failures: number;
}

export class UpstreamHealth {
  private attempts = 0;
  private failures = 0;

  constructor(private readonly settings: OutageSettings) {}

  /** Counts one attempt's outcome. */
  record(failedTransiently: boolean): void {
    this.attempts += 1;
    if (failedTransiently) this.failures += 1;
  }

  mark(): HealthMark {
    return { attempts: this.attempts, failures: this.failures };
  }

  /** Attempts and transient failures since `mark`. */
  since(mark: HealthMark): HealthMark {
    return { attempts: this.attempts - mark.attempts, failures: this.failures - mark.failures };
  }

  /** True when enough attempts were made since `mark` and more than `failureRate` of them failed transiently. */
  inOutageSince(mark: HealthMark): boolean {
    const { attempts, failures } = this.since(mark);
    return attempts >= this.settings.minRequests && failures > this.settings.failureRate * attempts;
  }
}
