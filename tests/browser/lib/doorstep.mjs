// The real `doorstep` binary, run from the browser test: the operator's
// commands that seed the county, the cadres' desktop devices, and
// `doorstep serve` on port 0. Nothing here prints what the commands print
// on stdout (ids, names): only their error lines, which carry no personal
// data.

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** The environment for every `doorstep` run: no caller's log level or language. */
function childEnvironment() {
  const environment = { ...process.env };
  delete environment.RUST_LOG;
  delete environment.DOORSTEP_LANG;
  delete environment.DOORSTEP_KEY_FILE;
  // The server's log is read as a file: no colour codes.
  environment.NO_COLOR = '1';
  return environment;
}

/** The last line of a command's stderr, for an error message. */
function lastLine(text) {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] || '(nothing on stderr)';
}

export class Doorstep {
  /**
   * @param {string} binary the `doorstep` executable
   * @param {string} directory the temporary directory the commands run in
   */
  constructor(binary, directory) {
    this.binary = binary;
    this.directory = directory;
    this.server = null;
  }

  /** Runs `doorstep ARGS`; returns `{ code, stdout, stderr }` whatever the outcome. */
  run(args, { input } = {}) {
    const result = spawnSync(this.binary, args, {
      cwd: this.directory,
      env: childEnvironment(),
      encoding: 'utf8',
      input,
      maxBuffer: 64 * 1024 * 1024,
      // A guard against a hung command, not a measure: a sync takes a second.
      timeout: 120_000,
      killSignal: 'SIGKILL',
    });
    if (result.error) {
      throw new Error(`could not run ${this.binary}: ${result.error.message}`);
    }
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  /** Runs a command that must succeed; returns its stdout. */
  ok(args) {
    const result = this.run(args);
    if (result.code !== 0) {
      throw new Error(`doorstep ${describe(args)} exited ${result.code}: ${lastLine(result.stderr)}`);
    }
    return result.stdout;
  }

  /** Runs a command that must succeed and print one line; returns it trimmed. */
  line(args) {
    return this.ok(args).trim();
  }

  /** Runs a command that must succeed and print JSON; returns it parsed. */
  json(args) {
    const stdout = this.ok(args);
    try {
      return JSON.parse(stdout);
    } catch (error) {
      throw new Error(`doorstep ${describe(args)} printed no JSON: ${error.message}`);
    }
  }

  /** `doorstep admin --db server.db ARGS`. */
  admin(args) {
    return ['admin', '--db', join(this.directory, 'server.db'), ...args];
  }

  /** `doorstep device --db DEVICE.db ARGS`. */
  device(name, args) {
    return ['device', '--db', join(this.directory, `${name}.db`), ...args];
  }

  /**
   * Starts `doorstep serve` on a free port of 127.0.0.1; resolves to its
   * URL (the first line it prints). Its log goes to server.log.
   */
  async serve() {
    const logPath = join(this.directory, 'server.log');
    const log = openSync(logPath, 'a');
    const child = spawn(
      this.binary,
      ['serve', '--db', join(this.directory, 'server.db'), '--listen', '127.0.0.1:0'],
      { cwd: this.directory, env: childEnvironment(), stdio: ['ignore', 'pipe', log] },
    );
    closeSync(log);
    this.server = child;
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const lines = createInterface({ input: child.stdout });
    const first = new Promise((resolve) => lines.once('line', resolve));
    let timer;
    const url = await Promise.race([
      first,
      exited.then((code) => {
        throw new Error(`doorstep serve exited ${code} before printing its address: ${this.serverLog(3)}`);
      }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('doorstep serve printed no address in 60 s')), 60_000);
      }),
    ]).finally(() => clearTimeout(timer));
    lines.close();
    child.stdout.resume();
    if (!/^https?:\/\/127\.0\.0\.1:\d+$/.test(url.trim())) {
      throw new Error(`doorstep serve printed ${JSON.stringify(url)} instead of its URL`);
    }
    return url.trim();
  }

  /** The server log's last lines (request lines and ids: no personal data). */
  serverLog(count = 20) {
    try {
      const lines = readFileSync(join(this.directory, 'server.log'), 'utf8').trimEnd().split('\n');
      return lines.slice(-count).join('\n');
    } catch {
      return '(no server log)';
    }
  }

  /** Stops the server if it runs: SIGTERM, then SIGKILL if it lingers. */
  async stop() {
    const child = this.server;
    this.server = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** For `process.on('exit')`: kill the server at once, synchronously. */
  killNow() {
    if (this.server && this.server.exitCode === null && this.server.signalCode === null) {
      this.server.kill('SIGKILL');
    }
  }
}

/** A command for a message: the subcommands, without paths. */
function describe(args) {
  return args
    .filter((arg, index) => arg !== '--db' && args[index - 1] !== '--db')
    .slice(0, 3)
    .join(' ');
}
