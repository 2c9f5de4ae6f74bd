// Named steps with a clear line each on stderr: which one ran, which one
// failed and why, which ones were skipped because a step they need failed;
// and the assertions the steps use. Messages name ids, counts and URLs,
// never a household's name or answers.

export function log(message) {
  process.stderr.write(`browser: ${message}\n`);
}

export class Steps {
  constructor({ onFailure } = {}) {
    this.results = [];
    this.passed = new Set();
    this.onFailure = onFailure;
  }

  /**
   * Runs one step unless a step it needs did not pass. `id` is a short
   * name that later steps name in `needs`.
   */
  async run(id, title, body, { needs = [] } = {}) {
    const missing = needs.filter((need) => !this.passed.has(need));
    if (missing.length > 0) {
      log(`- ${title}: skipped (needs ${missing.join(', ')})`);
      this.results.push({ id, title, status: 'skipped' });
      return;
    }
    log(`> ${title}`);
    const started = Date.now();
    try {
      await body();
      this.passed.add(id);
      this.results.push({ id, title, status: 'passed' });
      log(`  ok: ${title} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (error) {
      this.results.push({ id, title, status: 'failed', message: error.message });
      log(`  FAILED: ${title}: ${firstLines(error.message)}`);
      if (this.onFailure) {
        try {
          await this.onFailure(id);
        } catch (problem) {
          log(`  (could not record the failure: ${firstLines(problem.message)})`);
        }
      }
    }
  }

  /** Prints the summary; returns whether every step passed. */
  summary() {
    const count = (status) => this.results.filter((result) => result.status === status).length;
    const failed = this.results.filter((result) => result.status !== 'passed');
    if (failed.length > 0) {
      log('steps not passed:');
      for (const result of failed) {
        log(`  ${result.status}: ${result.title}${result.message ? ` — ${firstLines(result.message, 1)}` : ''}`);
      }
    }
    log(`${count('passed')} passed, ${count('failed')} failed, ${count('skipped')} skipped`);
    return failed.length === 0;
  }
}

/** The first lines of a message (Playwright's carry a long call log). */
function firstLines(message, count = 4) {
  return String(message)
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(0, count)
    .join('\n    ');
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

export function equal(actual, expected, what) {
  if (actual !== expected) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

/** The first whole number in a cell's text ("1,234 户" → 1234); NaN if none. */
export function number(text) {
  const match = String(text).match(/\d[\d,]*/);
  return match ? Number(match[0].replace(/,/g, '')) : NaN;
}
