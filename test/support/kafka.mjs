#!/usr/bin/env node
// A real, single-node Apache Kafka broker for tests — no Docker.
//
// The broker's jars come from Maven Central through `mvn` and are cached under
// ${TAPWATCH_CACHE_DIR:-$HOME/.cache/tapwatch}/kafka-<version>/. Brokers run
// in KRaft mode (combined broker + controller) on 127.0.0.1 with `java`.
//
// Library:  import { ensureKafka, startKafka, KAFKA_VERSION } from './kafka.mjs'
// CLI:      node test/support/kafka.mjs fetch
//           node test/support/kafka.mjs start [--port N] [--data-dir DIR]
//
// Only Node's standard library is used, so this runs before `npm ci`/builds.
// See kafka.README.md beside this file for notes.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Apache Kafka version of the test broker. Keep it equal to the
 * `apache/kafka:<version>` image in docker-compose.yml.
 */
export const KAFKA_VERSION = '4.4.0';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const POM_TEMPLATE = path.join(HERE, 'kafka-pom.xml');
// Pinned so that the download does not depend on Maven's (very old) default.
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';
const MARKER = '.complete';
const READY_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 15_000;
const READY_LOG_LINE = 'Kafka Server started';

// ---------------------------------------------------------------------------
// Download
// ---------------------------------------------------------------------------

/** Root of tapwatch's download cache. */
function cacheRoot() {
  return process.env.TAPWATCH_CACHE_DIR || path.join(os.homedir(), '.cache', 'tapwatch');
}

/**
 * Make sure the jars of Kafka `version` and its runtime dependencies are in
 * the local cache, downloading them with Maven if needed. A marker file is
 * written only after a complete download, so an interrupted download is
 * redone on the next call, and a complete one is reused without network.
 * Concurrent callers (parallel test files) are serialised by a lock directory.
 *
 * @param {object} [options]
 * @param {string} [options.version=KAFKA_VERSION] Kafka version to fetch.
 * @param {(line: string) => void} [options.log] Progress messages (default: none).
 * @returns {Promise<{ version: string, dir: string, libs: string, classpath: string, downloaded: boolean }>}
 *   `dir` is the cache directory, `libs` the jar directory, `classpath` the
 *   `java -cp` argument, `downloaded` whether this call hit the network.
 */
export async function ensureKafka({ version = KAFKA_VERSION, log = () => {} } = {}) {
  const dir = path.join(cacheRoot(), `kafka-${version}`);
  const libs = path.join(dir, 'libs');
  const result = (downloaded) => ({
    version,
    dir,
    libs,
    classpath: classpathOf(dir),
    downloaded,
  });

  if (fs.existsSync(path.join(dir, MARKER))) {
    await ensureLauncher(dir);
    return result(false);
  }

  await fsp.mkdir(dir, { recursive: true });
  const release = await acquireLock(path.join(dir, '.lock'));
  try {
    // Another process may have finished the download while we waited.
    if (fs.existsSync(path.join(dir, MARKER))) {
      await ensureLauncher(dir);
      return result(false);
    }
    log(`Downloading Apache Kafka ${version} from Maven Central into ${libs} …`);
    await fsp.rm(libs, { recursive: true, force: true });
    const pom = path.join(dir, 'pom.xml');
    const template = await fsp.readFile(POM_TEMPLATE, 'utf8');
    await fsp.writeFile(pom, template.replaceAll('@KAFKA_VERSION@', version));

    const mvnLog = path.join(dir, 'mvn.log');
    await fsp.writeFile(mvnLog, '');
    const args = [
      '-q',
      '-B',
      '-Dstyle.color=never',
      '-f',
      pom,
      `${DEPENDENCY_PLUGIN}:copy-dependencies`,
      '-DincludeScope=runtime',
      `-DoutputDirectory=${libs}`,
    ];
    const { code, signal } = await run('mvn', args, mvnLog);
    if (code !== 0) {
      throw new Error(`mvn failed (${signal ?? `exit ${code}`}) fetching Kafka ${version}; ` + `see ${mvnLog}:\n${await tail(mvnLog, 30)}`);
    }
    const jars = (await fsp.readdir(libs)).filter((f) => f.endsWith('.jar'));
    if (!jars.some((f) => f.startsWith(`kafka_2.13-${version}`))) {
      throw new Error(`mvn finished but ${libs} has no kafka_2.13-${version}.jar`);
    }
    await ensureLauncher(dir);
    // Written last: its presence means everything above completed.
    await fsp.writeFile(path.join(dir, MARKER), `${new Date().toISOString()} ${jars.length} jars\n`);
    return result(true);
  } finally {
    await release();
  }
}

/** `java -cp` value for a cache directory (launcher class first, then all jars). */
function classpathOf(dir) {
  const launcher = path.join(dir, 'launcher');
  const jars = path.join(dir, 'libs', '*');
  return fs.existsSync(path.join(launcher, `${LAUNCHER_CLASS}.class`)) ? `${launcher}${path.delimiter}${jars}` : jars;
}

/**
 * Take a cross-process lock by creating `lockDir` (mkdir is atomic). A lock
 * whose owner process is gone is taken over.
 * @returns {Promise<() => Promise<void>>} releases the lock
 */
async function acquireLock(lockDir) {
  const ownerFile = path.join(lockDir, 'pid');
  for (;;) {
    try {
      await fsp.mkdir(lockDir);
      await fsp.writeFile(ownerFile, String(process.pid));
      return () => fsp.rm(lockDir, { recursive: true, force: true });
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    const owner = Number(await fsp.readFile(ownerFile, 'utf8').catch(() => ''));
    // No pid yet means the owner is between mkdir and writeFile: just wait.
    if (owner && !isAlive(owner)) {
      await fsp.rm(lockDir, { recursive: true, force: true });
      continue;
    }
    await sleep(500);
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------
// Parent-death watchdog
// ---------------------------------------------------------------------------

// Node's 'exit' event does not fire when Node dies from a signal (Ctrl-C, a
// test runner's SIGTERM/SIGKILL), which would leave the JVM running. So the
// JVM is started through this tiny launcher: it keeps stdin (a pipe from
// Node) open and, when the pipe reaches EOF — the parent is gone, however it
// died — exits the JVM, which runs Kafka's shutdown hook. It is compiled once
// into the cache; without javac, Kafka's main classes are run directly and
// only the 'exit' handler protects against orphans.
const LAUNCHER_CLASS = 'TapwatchKafkaLauncher';
const LAUNCHER_SOURCE = `
import java.lang.reflect.InvocationTargetException;

/** Runs args[0].main(args[1..]) and exits the JVM once stdin reaches EOF. */
public final class ${LAUNCHER_CLASS} {
  public static void main(String[] args) throws Throwable {
    Thread watchdog = new Thread(() -> {
      try {
        while (System.in.read() != -1) { /* discard */ }
      } catch (java.io.IOException ignored) {
        // treat a broken pipe like EOF
      }
      System.err.println("${LAUNCHER_CLASS}: parent process is gone, shutting down");
      Thread halt = new Thread(() -> {
        try { Thread.sleep(20_000); } catch (InterruptedException ignored) { }
        Runtime.getRuntime().halt(1);  // shutdown hooks hung
      });
      halt.setDaemon(true);
      halt.start();
      System.exit(0);
    }, "tapwatch-parent-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
    String[] rest = java.util.Arrays.copyOfRange(args, 1, args.length);
    try {
      Class.forName(args[0]).getMethod("main", String[].class).invoke(null, (Object) rest);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }
}
`;

/** Compile the launcher into `<dir>/launcher` unless it is already there. */
async function ensureLauncher(dir) {
  const out = path.join(dir, 'launcher');
  if (fs.existsSync(path.join(out, `${LAUNCHER_CLASS}.class`))) return;
  const javac = javaTool('javac');
  if (spawnSync(javac, ['-version'], { stdio: 'ignore' }).status !== 0) return;
  const staging = await fsp.mkdtemp(path.join(dir, 'launcher.tmp-'));
  try {
    const src = path.join(staging, `${LAUNCHER_CLASS}.java`);
    await fsp.writeFile(src, LAUNCHER_SOURCE);
    const res = spawnSync(javac, ['--release', '11', '-d', staging, src], { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`javac failed for the Kafka launcher:\n${res.stderr}`);
    await fsp.rm(src);
    await fsp.chmod(staging, 0o755); // mkdtemp makes it 0700
    // rename() is atomic, so concurrent callers never see a half-written class.
    await fsp.rename(staging, out).catch((err) => {
      if (!['EEXIST', 'ENOTEMPTY'].includes(err.code)) throw err;
    });
  } finally {
    await fsp.rm(staging, { recursive: true, force: true });
  }
}

/** Path of a JDK tool, preferring $JAVA_HOME. */
function javaTool(name) {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', name) : name;
}

// ---------------------------------------------------------------------------
// Broker
// ---------------------------------------------------------------------------

/** Brokers started by this process that have not been stopped yet. */
const liveBrokers = new Set();
let exitHookInstalled = false;

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort for a caller that never called stop(): only synchronous work
  // is possible here, so SIGKILL and a best-effort removal of temp dirs.
  process.on('exit', () => {
    for (const broker of liveBrokers) {
      try {
        broker.child.kill('SIGKILL');
      } catch {
        // already gone
      }
      if (broker.ownsDataDir) {
        fs.rmSync(broker.dataDir, { recursive: true, force: true, maxRetries: 3 });
      }
    }
  });
}

/**
 * Start a single-node KRaft Kafka broker (combined broker + controller,
 * node.id 1) on 127.0.0.1 and wait until it answers Kafka protocol requests.
 * Downloads Kafka first if it is not cached (see {@link ensureKafka}).
 *
 * The JVM does not outlive this Node process: it is killed on process
 * 'exit', and exits by itself when this process dies in any other way.
 * Broker output goes to `logFile`, never to the console.
 *
 * @param {object} [options]
 * @param {number} [options.port=0] PLAINTEXT port; 0 picks a free one.
 * @param {string} [options.dataDir] Directory for config, data and log. Default:
 *   a fresh temp dir, deleted by stop(). A given dir is kept, and reusing it
 *   restarts the broker with its earlier topics and offsets.
 * @param {string} [options.version=KAFKA_VERSION] Kafka version to run.
 * @param {number} [options.readyTimeoutMs=120000] Startup timeout.
 * @param {Record<string, string|number|boolean>} [options.config] Extra or
 *   overriding server.properties entries.
 * @returns {Promise<{ brokers: string, port: number, controllerPort: number,
 *   pid: number, dataDir: string, logFile: string, version: string,
 *   exited: Promise<{ code: number|null, signal: string|null }>,
 *   stop: () => Promise<void> }>}
 *   `brokers` is the bootstrap string (`127.0.0.1:PORT`); `exited` settles
 *   when the JVM exits for any reason; `stop()` sends SIGTERM, waits for the
 *   exit (SIGKILL after 15 s) and deletes the data dir if it was a temp dir.
 */
export async function startKafka({ port = 0, dataDir, version = KAFKA_VERSION, readyTimeoutMs = READY_TIMEOUT_MS, config = {} } = {}) {
  const kafka = await ensureKafka({ version });
  const ownsDataDir = !dataDir;
  const dir = dataDir ? path.resolve(dataDir) : await fsp.mkdtemp(path.join(os.tmpdir(), 'tapwatch-kafka-'));
  await fsp.mkdir(dir, { recursive: true });

  // A free port found here could in theory be taken before the JVM binds it;
  // retry with new ports then, unless the busy port is the one asked for.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce({ kafka, dir, ownsDataDir, port, readyTimeoutMs, config });
    } catch (err) {
      const retry = err instanceof PortInUseError && attempt < 3 && !(port && err.port === port);
      if (ownsDataDir) {
        // Drop the data, but keep a non-empty log of a failed start for diagnosis.
        const log = path.join(dir, 'broker.log');
        const keepLog = !retry && (await fsp.stat(log).catch(() => ({ size: 0 }))).size > 0;
        if (keepLog || retry) await fsp.rm(path.join(dir, 'kraft-logs'), { recursive: true, force: true });
        if (retry) await fsp.rm(log, { force: true });
        else if (!keepLog) await fsp.rm(dir, { recursive: true, force: true });
      }
      if (!retry) throw err;
    }
  }
}

/** A startup failure because a listener port was taken (`port` may be NaN). */
class PortInUseError extends Error {
  constructor(message, port) {
    super(message);
    this.port = port;
  }
}

async function startOnce({ kafka, dir, ownsDataDir, port, readyTimeoutMs, config }) {
  const brokerPort = port || (await freePort());
  const controllerPort = await freePort([brokerPort]);
  const logFile = path.join(dir, 'broker.log');
  const propsFile = path.join(dir, 'server.properties');
  const logDirs = path.join(dir, 'kraft-logs');

  const props = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    // A static voter set keeps nothing about the controller's address in the
    // data dir, so a reused dataDir restarts fine on a new controller port.
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${brokerPort},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${brokerPort}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'log.dirs': logDirs,
    'num.partitions': 1,
    'auto.create.topics.enable': true,
    'offsets.topic.replication.factor': 1,
    // One partition instead of 50 makes the first consumer group join fast.
    'offsets.topic.num.partitions': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    'group.initial.rebalance.delay.ms': 0,
    'log.segment.bytes': 16 * 1024 * 1024,
    'num.network.threads': 2,
    'num.io.threads': 2,
    'num.recovery.threads.per.data.dir': 1,
    ...config,
  };
  await fsp.writeFile(
    propsFile,
    `# Written by test/support/kafka.mjs\n${Object.entries(props)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`,
  );

  const java = javaTool('java');
  const usesLauncher = kafka.classpath.includes(path.join(kafka.dir, 'launcher'));
  const javaArgs = (jvmFlags, mainClass, args) => [
    ...jvmFlags,
    '-XX:+UseSerialGC', // fewer GC threads/memory than G1; plenty for a test broker
    '-Djava.awt.headless=true',
    '-Dorg.slf4j.simpleLogger.showDateTime=true',
    '-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS',
    '-cp',
    kafka.classpath,
    ...(usesLauncher ? [LAUNCHER_CLASS] : []),
    mainClass,
    ...args,
  ];

  // 1. Format the storage, unless a reused dataDir already is formatted (the
  //    tool would refuse a new cluster id even with --ignore-formatted).
  if (!fs.existsSync(path.join(logDirs, 'meta.properties'))) {
    const formatStart = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
    const format = await run(
      java,
      // C1 only: this short-lived tool starts ~30% faster without C2.
      javaArgs(['-Xmx256m', '-XX:TieredStopAtLevel=1'], 'kafka.tools.StorageTool', ['format', '--cluster-id', clusterId(), '--config', propsFile]),
      logFile,
    );
    if (format.code !== 0) {
      throw new Error(
        `Kafka storage format failed (${format.signal ?? `exit ${format.code}`}); ` + `log: ${logFile}\n${await diagnostics(logFile, formatStart)}`,
      );
    }
  }

  // 2. Start the broker.
  installExitHook();
  const logFd = fs.openSync(logFile, 'a');
  const logStart = fs.fstatSync(logFd).size;
  const child = spawn(
    java,
    // A small initial heap keeps the RSS near 300 MB instead of ~360 MB.
    javaArgs(['-Xms64m', '-Xmx512m'], 'kafka.Kafka', [propsFile]),
    { stdio: ['pipe', logFd, logFd] },
  );
  fs.closeSync(logFd);
  // The broker must not keep this process alive: a test file that forgets
  // stop() ends normally and the 'exit' hook kills the broker.
  child.unref();
  child.stdin.unref?.();
  child.stdin.on('error', () => {}); // EPIPE once the JVM is gone

  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const broker = { child, dataDir: dir, ownsDataDir };
  liveBrokers.add(broker);
  exited.then(() => liveBrokers.delete(broker));
  let spawnError;
  child.once('error', (err) => {
    spawnError = err;
  });

  let stopping;
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null && !spawnError) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      liveBrokers.delete(broker);
      if (ownsDataDir) await fsp.rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  // 3. Wait for "Kafka Server started" in the log, then for a real Kafka
  //    ApiVersions response on the PLAINTEXT port.
  const deadline = Date.now() + readyTimeoutMs;
  const logTail = new LogFollower(logFile, logStart);
  try {
    let sawStarted = false;
    for (;;) {
      if (spawnError) throw new Error(`cannot run ${java}: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) {
        const text = await diagnostics(logFile, logStart);
        const msg = `Kafka broker exited during startup (${child.signalCode ?? `exit ${child.exitCode}`}); ` + `log: ${logFile}\n${text}`;
        const bind = /failed to bind to [^\s]*:(\d+)|BindException|Address already in use/.exec(text);
        if (bind) throw new PortInUseError(msg, Number(bind[1]));
        throw new Error(msg);
      }
      if (!sawStarted) sawStarted = await logTail.contains(READY_LOG_LINE);
      if (sawStarted && (await answersApiVersions(brokerPort))) break;
      if (Date.now() > deadline) {
        throw new Error(`Kafka broker not ready after ${readyTimeoutMs} ms; log: ${logFile}\n` + (await diagnostics(logFile, logStart)));
      }
      await sleep(100);
    }
  } catch (err) {
    // startKafka decides what to keep of the data dir.
    liveBrokers.delete(broker);
    if (!spawnError) {
      // 'exit' is not guaranteed after a spawn error, so only await it here.
      child.kill('SIGKILL');
      await exited;
    }
    throw err;
  } finally {
    await logTail.close();
  }

  return {
    brokers: `127.0.0.1:${brokerPort}`,
    port: brokerPort,
    controllerPort,
    pid: child.pid,
    dataDir: dir,
    logFile,
    version: kafka.version,
    exited,
    stop,
  };
}

/** Random cluster id: 16 random bytes in 22-char base64url, like Kafka's Uuid. */
function clusterId() {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    // Kafka avoids a leading '-' too, so the id is never taken for an option.
    if (!id.startsWith('-')) return id;
  }
}

/** A TCP port on 127.0.0.1 that is free right now (and not in `avoid`). */
async function freePort(avoid = []) {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const server = net.createServer();
      server.unref();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port: p } = server.address();
        server.close(() => resolve(p));
      });
    });
    if (!avoid.includes(port)) return port;
  }
}

/**
 * Whether a Kafka broker on 127.0.0.1:`port` answers an ApiVersions v0
 * request (the version every broker must accept, also after KIP-896).
 */
function answersApiVersions(port, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const correlationId = 0x7a9;
    const clientId = Buffer.from('tapwatch-ready-probe');
    // Request header v1 + empty v0 body: size, api_key=18, api_version=0,
    // correlation_id, client_id (int16-length string).
    const req = Buffer.alloc(4 + 2 + 2 + 4 + 2 + clientId.length);
    req.writeInt32BE(req.length - 4, 0);
    req.writeInt16BE(18, 4);
    req.writeInt16BE(0, 6);
    req.writeInt32BE(correlationId, 8);
    req.writeInt16BE(clientId.length, 12);
    clientId.copy(req, 14);

    let buf = Buffer.alloc(0);
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write(req));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      // Response: size, correlation_id, error_code, …
      if (buf.length < 10) return;
      const errorCode = buf.readInt16BE(8);
      // 35 = UNSUPPORTED_VERSION still proves a live Kafka protocol handler.
      done(buf.readInt32BE(4) === correlationId && (errorCode === 0 || errorCode === 35));
    });
    socket.once('end', () => done(false));
  });
}

/** Incrementally reads a growing log file and looks for a string in it. */
class LogFollower {
  constructor(file, start) {
    this.file = file;
    this.pos = start;
    this.carry = '';
    this.fd = undefined;
  }

  async contains(needle) {
    this.fd ??= await fsp.open(this.file, 'r');
    const chunk = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await this.fd.read(chunk, 0, chunk.length, this.pos);
      if (bytesRead === 0) return false;
      this.pos += bytesRead;
      const text = this.carry + chunk.toString('utf8', 0, bytesRead);
      if (text.includes(needle)) return true;
      // Keep enough to match a needle split across two reads.
      this.carry = text.slice(-needle.length);
    }
  }

  async close() {
    await this.fd?.close();
  }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** Run a command with stdout+stderr appended to `logFile`; resolves on exit. */
function run(cmd, args, logFile) {
  return new Promise((resolve, reject) => {
    const fd = fs.openSync(logFile, 'a');
    let child;
    try {
      // stdin is a pipe (kept open until exit) for the launcher's watchdog.
      child = spawn(cmd, args, { stdio: ['pipe', fd, fd] });
    } finally {
      fs.closeSync(fd);
    }
    child.stdin.on('error', () => {});
    child.once('error', (err) => reject(new Error(`cannot run ${cmd}: ${err.message}`)));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** Last `n` lines of a text file ('' if unreadable). */
async function tail(file, n) {
  const text = await fsp.readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .slice(-n - 1)
    .join('\n');
}

/**
 * The informative part of a broker log from byte `start` on: its first error
 * lines (Kafka logs a lot during its shutdown after a fatal error, so the
 * cause is rarely at the end) and its last lines.
 */
async function diagnostics(file, start = 0) {
  const text = (await fsp.readFile(file).catch(() => Buffer.alloc(0))).subarray(start).toString('utf8');
  const lines = text.split('\n');
  const errors = lines.filter((l) => /\b(ERROR|FATAL)\b|Exception|^\s*Caused by/.test(l)).slice(0, 15);
  const last = lines.slice(-15).join('\n');
  return errors.length ? `first errors:\n${errors.join('\n')}\nlast lines:\n${last}` : last;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

const USAGE = `usage: node test/support/kafka.mjs fetch
       node test/support/kafka.mjs start [--port N] [--data-dir DIR]

  fetch  download Kafka ${KAFKA_VERSION} (cached; env TAPWATCH_CACHE_DIR) and print where
  start  start a broker, print {"brokers":"127.0.0.1:N","pid":…} and run until SIGINT/SIGTERM
`;

async function cli(argv) {
  const [command, ...rest] = argv;
  const opts = {};
  for (let i = 0; i < rest.length; i++) {
    const [flag, inline] = rest[i].split(/=(.*)/s);
    const value = () => inline ?? rest[++i];
    if (flag === '--port') opts.port = Number(value());
    else if (flag === '--data-dir') opts.dataDir = value();
    else return usage(`unknown option ${rest[i]}`);
  }
  if (opts.port !== undefined && !(Number.isInteger(opts.port) && opts.port >= 0 && opts.port < 65536)) {
    return usage('--port needs a port number');
  }

  if (command === 'fetch') {
    if (Object.keys(opts).length) return usage('fetch takes no options');
    const t0 = Date.now();
    const kafka = await ensureKafka({ log: (line) => console.error(line) });
    const how = kafka.downloaded ? `downloaded in ${((Date.now() - t0) / 1000).toFixed(1)} s` : 'cached';
    console.log(`Kafka ${kafka.version} (${how}): ${kafka.libs}`);
    return 0;
  }

  if (command === 'start') {
    const broker = await startKafka(opts);
    console.log(
      JSON.stringify({
        brokers: broker.brokers,
        pid: broker.pid,
        version: broker.version,
        dataDir: broker.dataDir,
        logFile: broker.logFile,
      }),
    );
    // Signal handlers alone do not keep the event loop alive.
    const keepAlive = setInterval(() => {}, 1 << 30);
    const outcome = await Promise.race([
      new Promise((resolve) => {
        process.once('SIGINT', () => resolve('signal'));
        process.once('SIGTERM', () => resolve('signal'));
      }),
      broker.exited.then(
        async ({ code, signal }) =>
          // Read the log now: stop() deletes a temp data dir with it.
          `broker exited unexpectedly (${signal ?? `exit ${code}`}):\n${await diagnostics(broker.logFile)}`,
      ),
    ]);
    clearInterval(keepAlive);
    await broker.stop();
    if (outcome !== 'signal') {
      console.error(outcome);
      return 1;
    }
    return 0;
  }

  return usage(command ? `unknown command ${command}` : undefined);
}

function usage(problem) {
  if (problem) console.error(problem);
  process.stderr.write(USAGE);
  return 2;
}

function invokedDirectly() {
  try {
    return import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href;
  } catch {
    return false; // no script path (node -e, REPL) or not a file
  }
}

if (invokedDirectly()) {
  cli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    },
  );
}
