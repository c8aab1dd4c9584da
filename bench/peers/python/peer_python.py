#!/usr/bin/env python3
"""peer_python — Python's subprocess in the peer benchmarks (bench/peers/PROTOCOL.md).

Written as the subprocess documentation shows: subprocess.run / Popen with stdout=PIPE,
file-object reads and writes, selectors for waiting, Popen.kill / wait, os.waitpid for many
children, threading for `threads`. Python's defaults matter here: close_fds=True and
non-inheritable pipes (PEP 446), so nothing leaks into children.

usage: peer_python.py WORKLOAD ITERATIONS CHILD
"""

import fcntl
import mmap
import os
import resource
import selectors
import signal
import subprocess
import sys
import threading
import time

# The sizes of PROTOCOL.md (bench/peers/peer_common.hpp holds the same for the C++ peers).
STREAM_BYTES = 1073741824
STREAM_CHUNK = 65536
READ_SIZE = 65536
WARMUPS = 3
CHILDREN_WARMUPS = 1  # children: one round of 1,000 is enough (peer_common.hpp)
MESSAGE_SIZE = 64
MESSAGES_PER_ITERATION = 100000
CHILDREN_PER_ITERATION = 1000
EXTRA_FDS = 5000
TOUCH_BYTES = 2 << 30
PAGE_SIZE = 4096
LINGER_MS = 600
THREADS_SPAWN_INTERVAL = 0.010  # B starts one lingerer every 10 ms
DELAYED_AFTER_US = 500_000
HANG_AFTER_S = 2.0

workload = "python"


def fail(message):
    sys.stdout.flush()
    sys.stderr.write(f"{workload}: {message}\n")
    sys.exit(1)


def require(ok, message):
    if not ok:
        fail(message)


def sample(us):
    sys.stdout.write(f"sample {us:.3f}\n")
    sys.stdout.flush()


def info(key, value):
    sys.stdout.write(f"info {key}={int(value)}\n")
    sys.stdout.flush()


def now():
    return time.perf_counter_ns()


def micros(t0):
    return (time.perf_counter_ns() - t0) / 1000.0


def run(iterations, once, warm=WARMUPS):
    """min(warm, iterations) unmeasured calls, then `iterations` measured ones; once() returns
    microseconds."""
    for _ in range(min(warm, iterations)):
        once()
    for _ in range(iterations):
        sample(once())


def timed(f):
    t0 = now()
    f()
    return micros(t0)


def check_exit(p, what):
    require(p.returncode == 0, f"{what} exited with {p.returncode}")


# ---- spawn, spawn_2g, spawn_fds
def spawn_true():
    return timed(lambda: subprocess.run(["/bin/true"], check=True))


def touch_2g():
    memory = mmap.mmap(-1, TOUCH_BYTES, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    for off in range(0, TOUCH_BYTES, PAGE_SIZE):
        memory[off] = 1
    return memory


def extra_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = EXTRA_FDS + 1024
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            fail(f"RLIMIT_NOFILE hard limit {hard} is below {needed}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed if hard == resource.RLIM_INFINITY else hard, hard))
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    fds = []
    for i in range(EXTRA_FDS):
        # F_DUPFD makes an inheritable descriptor at birth, F_DUPFD_CLOEXEC a close-on-exec one.
        fds.append(fcntl.fcntl(null, fcntl.F_DUPFD_CLOEXEC if i % 2 == 0 else fcntl.F_DUPFD, 3))
    os.close(null)
    return fds


def child_fds(child):
    r = subprocess.run([child, "fds"], stdout=subprocess.PIPE, check=True)
    text = r.stdout.decode().strip()
    require(text.isdigit(), f"peer_child fds printed {text!r}")
    return int(text)


# ---- stream: Popen(stdout=PIPE), read into a 64 KiB buffer to end-of-file.
def stream_once(child):
    def body():
        with subprocess.Popen([child, "stream", str(STREAM_BYTES), str(STREAM_CHUNK)], stdout=subprocess.PIPE) as p:
            buf = bytearray(READ_SIZE)
            total = 0
            while n := p.stdout.readinto(buf):
                total += n
        require(total == STREAM_BYTES, f"read {total} bytes, expected {STREAM_BYTES}")
        check_exit(p, "stream")

    return timed(body)


# ---- forward: one child's stdout copied into another's stdin (read / write of file objects).
def forward_once(child):
    def body():
        with subprocess.Popen([child, "stream", str(STREAM_BYTES), str(STREAM_CHUNK)], stdout=subprocess.PIPE) as src, \
             subprocess.Popen([child, "drain"], stdin=subprocess.PIPE) as dst:
            buf = bytearray(READ_SIZE)
            view = memoryview(buf)
            total = 0
            while n := src.stdout.readinto(buf):
                dst.stdin.write(view[:n])
                total += n
        # leaving the with-blocks closed dst.stdin (drain's end-of-file) and waited for both
        require(total == STREAM_BYTES, f"forwarded {total} bytes, expected {STREAM_BYTES}")
        check_exit(src, "stream")
        check_exit(dst, "drain")

    return timed(body)


# ---- roundtrip: 1 byte to echo, wait with a selector, 1 byte back.
def roundtrip(iterations, child):
    with subprocess.Popen([child, "echo"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0) as p, \
         selectors.DefaultSelector() as sel:
        sel.register(p.stdout, selectors.EVENT_READ)

        def once():
            t0 = now()
            p.stdin.write(b"x")
            sel.select()
            require(p.stdout.read(1) == b"x", "echo did not answer")
            return micros(t0)

        run(iterations, once)
        p.stdin.close()
        require(p.stdout.read() == b"", "echo wrote more than it was sent")
    check_exit(p, "echo")


# ---- kill_eof: Popen.kill -> end-of-file on its stdout.
def kill_eof(iterations, child):
    hangs = 0

    def once():
        nonlocal hangs
        with subprocess.Popen([child, "sleep"], stdout=subprocess.PIPE, bufsize=0) as p, \
             selectors.DefaultSelector() as sel:
            require(p.stdout.read(1) == b"r", "no ready mark from sleep")
            sel.register(p.stdout, selectors.EVENT_READ)
            t0 = now()
            p.kill()
            if not sel.select(timeout=HANG_AFTER_S):
                hangs += 1  # then wait for the end-of-file without limit: it must still come
            require(p.stdout.read(1) == b"", "data after the ready mark")
            us = micros(t0)
        require(p.returncode == -signal.SIGKILL, f"sleep was not killed ({p.returncode})")
        return us

    run(iterations, once)
    info("hangs", hangs)


# ---- threads: thread A streams 1 byte per child; thread B starts lingerers meanwhile.
def threads(iterations, child):
    done = threading.Event()
    started = 0
    errors = []

    def lingerers():
        nonlocal started
        alive = []
        try:
            while not done.is_set():
                alive.append(subprocess.Popen([child, "linger", str(LINGER_MS)]))
                started += 1
                still = []
                for p in alive:
                    if p.poll() is None:
                        still.append(p)
                    elif p.returncode != 0:
                        errors.append(f"linger exited with {p.returncode}")
                alive = still
                done.wait(THREADS_SPAWN_INTERVAL)
            for p in alive:
                if p.wait() != 0:
                    errors.append(f"linger exited with {p.returncode}")
        except Exception as e:  # reported by the main thread, which fails loudly
            errors.append(repr(e))

    delayed = 0

    def once():
        nonlocal delayed
        t0 = now()
        r = subprocess.run([child, "stream", "1", "1"], stdout=subprocess.PIPE, check=True)
        us = micros(t0)
        require(r.stdout == b"x", "A did not read its 1 byte")
        if us > DELAYED_AFTER_US:
            delayed += 1
        return us

    b = threading.Thread(target=lingerers)
    b.start()
    try:
        run(iterations, once)
    finally:
        done.set()
        b.join()
    require(not errors, "; ".join(errors))
    info("delayed", delayed)
    info("lingerers", started)


# ---- messages: 100,000 writes of 64 bytes to the child's stdin file object, then its answer.
def messages(iterations, child):
    msg = b"m" * MESSAGE_SIZE
    with subprocess.Popen([child, "sink"], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as p:
        def once():
            t0 = now()
            for _ in range(MESSAGES_PER_ITERATION):
                p.stdin.write(msg)
            p.stdin.flush()
            require(p.stdout.read(1) == b"a", "no acknowledgement")
            return micros(t0)

        run(iterations, once)
        p.stdin.close()
        require(p.stdout.read() == b"", "sink acknowledged too much")
    check_exit(p, "sink")


# ---- children: 1,000 Popen children, their exits observed with os.waitpid.
def children_once(child):
    t0 = now()
    procs = {}
    for _ in range(CHILDREN_PER_ITERATION):
        p = subprocess.Popen([child, "exit"])
        procs[p.pid] = p
    for _ in range(CHILDREN_PER_ITERATION):
        pid, status = os.waitpid(-1, 0)
        p = procs.get(pid)
        require(p is not None, f"waitpid returned a stranger, pid {pid}")
        p.returncode = os.waitstatus_to_exitcode(status)  # so Popen knows it was reaped
        require(p.returncode == 0, f"child {pid} exited with {p.returncode}")
    return micros(t0)


def main():
    global workload
    if len(sys.argv) != 4:
        sys.stderr.write("usage: peer_python.py WORKLOAD ITERATIONS CHILD\n")
        sys.exit(2)
    workload, iterations, child = sys.argv[1], sys.argv[2], sys.argv[3]
    if not iterations.isdigit() or int(iterations) <= 0:
        sys.stderr.write(f"ITERATIONS must be a positive integer, not {iterations!r}\n")
        sys.exit(2)
    iterations = int(iterations)
    if not os.path.isabs(child) or not os.access(child, os.X_OK):
        sys.stderr.write(f"CHILD must be the absolute path of peer_child, not {child!r}\n")
        sys.exit(2)
    try:
        if workload == "spawn":
            run(iterations, spawn_true)
        elif workload == "spawn_2g":
            memory = touch_2g()
            run(iterations, spawn_true)
            memory.close()
        elif workload == "spawn_fds":
            fds = extra_descriptors()
            run(iterations, spawn_true)
            info("child_fds", child_fds(child))
            for fd in fds:
                os.close(fd)
        elif workload == "stream":
            run(iterations, lambda: stream_once(child))
        elif workload == "forward":
            run(iterations, lambda: forward_once(child))
        elif workload == "roundtrip":
            roundtrip(iterations, child)
        elif workload == "kill_eof":
            kill_eof(iterations, child)
        elif workload == "threads":
            threads(iterations, child)
        elif workload == "messages":
            messages(iterations, child)
        elif workload == "children":
            run(iterations, lambda: children_once(child), CHILDREN_WARMUPS)
        else:
            sys.stderr.write(f"unknown workload {workload!r}\n")
            sys.exit(2)
    except (OSError, subprocess.SubprocessError) as e:
        fail(repr(e))


if __name__ == "__main__":
    main()
