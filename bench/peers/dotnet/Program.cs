// peer_dotnet: .NET 10's System.Diagnostics.Process in the peer benchmarks (bench/peers/PROTOCOL.md).
//
// Written as the Process documentation shows: Process.Start with a ProcessStartInfo
// (UseShellExecute = false), RedirectStandardInput/Output, reads and writes on
// StandardOutput.BaseStream / StandardInput.BaseStream, WaitForExit, Kill, WaitForExitAsync for
// many children, a Thread for `threads`. What .NET does underneath on Linux: fork/exec (vfork
// where it can) with the redirected pipes close-on-exec, and no closing of other descriptors:
// every inheritable descriptor of ours reaches every child (spawn_fds shows it).
//
// usage: peer_dotnet WORKLOAD ITERATIONS CHILD   (run as `dotnet PeerDotnet.dll ...`)
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

static class Peer
{
    // The sizes of PROTOCOL.md (bench/peers/peer_common.hpp holds the same for the C++ peers).
    const long StreamBytes = 1073741824;
    const int StreamChunk = 65536;
    const int ReadSize = 65536;
    const int Warmups = 3;
    const int ChildrenWarmups = 1;
    const int MessageSize = 64;
    const int MessagesPerIteration = 100000;
    const int ChildrenPerIteration = 1000;
    const int ExtraFds = 5000;
    const long TouchBytes = 2L << 30;
    const int PageSize = 4096;
    const int LingerMs = 600;
    const int ThreadsSpawnIntervalMs = 10;
    const double DelayedAfterUs = 500_000;
    const double HangAfterUs = 2_000_000;

    static string workload = "dotnet";
    static string child = "";

    sealed class PeerFailure(string message) : Exception(message);

    static void Require(bool ok, string message)
    {
        if (!ok) throw new PeerFailure(message);
    }

    static void Sample(double us) => Console.Out.Write($"sample {us:F3}\n");
    static void Info(string key, long value) => Console.Out.Write($"info {key}={value}\n");
    static double Micros(long t0) => (Stopwatch.GetTimestamp() - t0) * 1e6 / Stopwatch.Frequency;

    // min(warm, iterations) unmeasured calls, then `iterations` measured ones.
    static void Run(int iterations, Func<double> once, int warm = Warmups)
    {
        for (int i = 0; i < Math.Min(warm, iterations); i++) once();
        for (int i = 0; i < iterations; i++) Sample(once());
    }

    static double Timed(Action body)
    {
        long t0 = Stopwatch.GetTimestamp();
        body();
        return Micros(t0);
    }

    static ProcessStartInfo Command(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        return info;
    }

    static Process Start(ProcessStartInfo info) =>
        Process.Start(info) ?? throw new PeerFailure($"Process.Start('{info.FileName}') returned null");

    static void CheckExit(Process p, string what)
    {
        p.WaitForExit();
        Require(p.ExitCode == 0, $"{what} exited with {p.ExitCode}");
    }

    // ---- spawn, spawn_2g, spawn_fds
    static double SpawnTrue() => Timed(() =>
    {
        using var p = Start(Command("/bin/true"));
        CheckExit(p, "/bin/true");
    });

    // 2 GiB in 256 MiB arrays (one array may not reach 2 GiB), one write per 4 KiB page.
    static List<byte[]> Touch2G()
    {
        var memory = new List<byte[]>();
        for (long done = 0; done < TouchBytes; done += 256L << 20)
        {
            var block = GC.AllocateUninitializedArray<byte>(256 << 20);
            for (int off = 0; off < block.Length; off += PageSize) block[off] = 1;
            memory.Add(block);
        }
        return memory;
    }

    [DllImport("libc", SetLastError = true)] static extern int open(string path, int flags);
    [DllImport("libc", SetLastError = true)] static extern int dup(int fd);
    [DllImport("libc", SetLastError = true)] static extern int close(int fd);
    const int O_RDWR = 2, O_CLOEXEC = 0x80000;

    // 2,500 close-on-exec descriptors and 2,500 inheritable ones, all /dev/null. .NET has no API
    // for a raw descriptor: libc's open and dup (the runtime raised RLIMIT_NOFILE to the hard
    // limit at startup).
    static List<int> ExtraDescriptors()
    {
        var fds = new List<int>();
        int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
        Require(nul >= 0, $"open /dev/null: errno {Marshal.GetLastPInvokeError()}");
        for (int i = 0; i < ExtraFds; i++)
        {
            int fd = i % 2 == 0 ? open("/dev/null", O_RDWR | O_CLOEXEC) : dup(nul);
            Require(fd >= 0, $"descriptor {i} of {ExtraFds}: errno {Marshal.GetLastPInvokeError()}");
            fds.Add(fd);
        }
        close(nul);
        return fds;
    }

    static int ChildFds()
    {
        var info = Command(child, "fds");
        info.RedirectStandardOutput = true;
        using var p = Start(info);
        string text = p.StandardOutput.ReadToEnd().Trim();
        CheckExit(p, "peer_child fds");
        Require(int.TryParse(text, out int n), $"peer_child fds printed '{text}'");
        return n;
    }

    // ---- stream: stdout redirected, read into a 64 KiB buffer to end-of-file.
    static double StreamOnce() => Timed(() =>
    {
        var info = Command(child, "stream", StreamBytes.ToString(), StreamChunk.ToString());
        info.RedirectStandardOutput = true;
        using var p = Start(info);
        var buf = new byte[ReadSize];
        long total = 0;
        var output = p.StandardOutput.BaseStream;
        for (int n; (n = output.Read(buf, 0, buf.Length)) > 0;) total += n;
        Require(total == StreamBytes, $"read {total} bytes, expected {StreamBytes}");
        CheckExit(p, "stream");
    });

    // ---- forward: one child's stdout copied into another's stdin, 64 KiB at a time.
    static double ForwardOnce() => Timed(() =>
    {
        var srcInfo = Command(child, "stream", StreamBytes.ToString(), StreamChunk.ToString());
        srcInfo.RedirectStandardOutput = true;
        var dstInfo = Command(child, "drain");
        dstInfo.RedirectStandardInput = true;
        using var src = Start(srcInfo);
        using var dst = Start(dstInfo);
        var buf = new byte[ReadSize];
        long total = 0;
        var from = src.StandardOutput.BaseStream;
        var to = dst.StandardInput.BaseStream;
        for (int n; (n = from.Read(buf, 0, buf.Length)) > 0; total += n) to.Write(buf, 0, n);
        dst.StandardInput.Close();  // drain's end-of-file
        Require(total == StreamBytes, $"forwarded {total} bytes, expected {StreamBytes}");
        CheckExit(src, "stream");
        CheckExit(dst, "drain");
    });

    // ---- roundtrip: 1 byte to echo, 1 byte back, blocking.
    static void Roundtrip(int iterations)
    {
        var info = Command(child, "echo");
        info.RedirectStandardInput = true;
        info.RedirectStandardOutput = true;
        using var p = Start(info);
        var to = p.StandardInput.BaseStream;
        var from = p.StandardOutput.BaseStream;
        var one = new byte[] { (byte)'x' };
        var back = new byte[1];
        Run(iterations, () =>
        {
            long t0 = Stopwatch.GetTimestamp();
            to.Write(one, 0, 1);
            to.Flush();
            Require(from.Read(back, 0, 1) == 1 && back[0] == 'x', "echo did not answer");
            return Micros(t0);
        });
        p.StandardInput.Close();
        Require(from.Read(back, 0, 1) == 0, "echo wrote more than it was sent");
        CheckExit(p, "echo");
    }

    // ---- kill_eof: Kill() -> end-of-file on its stdout. A read that ends after 2 s is a hang.
    static void KillEof(int iterations)
    {
        long hangs = 0;
        Run(iterations, () =>
        {
            var info = Command(child, "sleep");
            info.RedirectStandardOutput = true;
            using var p = Start(info);
            var from = p.StandardOutput.BaseStream;
            var b = new byte[1];
            Require(from.Read(b, 0, 1) == 1 && b[0] == 'r', "no ready mark from sleep");
            long t0 = Stopwatch.GetTimestamp();
            p.Kill();
            Require(from.Read(b, 0, 1) == 0, "data after the ready mark");
            double us = Micros(t0);
            if (us > HangAfterUs) hangs++;
            p.WaitForExit();
            Require(p.ExitCode == 128 + 9, $"sleep was not killed ({p.ExitCode})");
            return us;
        });
        Info("hangs", hangs);
    }

    // ---- threads: thread A streams 1 byte per child; thread B starts lingerers meanwhile.
    static void Threads(int iterations)
    {
        var done = new ManualResetEventSlim(false);
        long started = 0;
        var errors = new List<string>();
        var b = new Thread(() =>
        {
            var alive = new List<Process>();
            try
            {
                while (!done.IsSet)
                {
                    alive.Add(Start(Command(child, "linger", LingerMs.ToString())));
                    started++;
                    alive.RemoveAll(p => p.HasExited && Reaped(p, errors));
                    done.Wait(ThreadsSpawnIntervalMs);
                }
                foreach (var p in alive)
                {
                    p.WaitForExit();
                    Reaped(p, errors);
                }
            }
            catch (Exception e)
            {
                lock (errors) errors.Add(e.ToString());
            }
        });
        b.Start();
        long delayed = 0;
        try
        {
            Run(iterations, () =>
            {
                long t0 = Stopwatch.GetTimestamp();
                var info = Command(child, "stream", "1", "1");
                info.RedirectStandardOutput = true;
                using var p = Start(info);
                var from = p.StandardOutput.BaseStream;
                var buf = new byte[16];
                int got = 0;
                for (int n; (n = from.Read(buf, got, buf.Length - got)) > 0;) got += n;
                CheckExit(p, "stream 1 1");
                double us = Micros(t0);
                Require(got == 1 && buf[0] == 'x', "A did not read its 1 byte");
                if (us > DelayedAfterUs) delayed++;
                return us;
            });
        }
        finally
        {
            done.Set();
            b.Join();
        }
        lock (errors) Require(errors.Count == 0, string.Join("; ", errors));
        Info("delayed", delayed);
        Info("lingerers", started);
    }

    static bool Reaped(Process p, List<string> errors)
    {
        if (p.ExitCode != 0) lock (errors) errors.Add($"linger exited with {p.ExitCode}");
        p.Dispose();
        return true;
    }

    // ---- messages: 100,000 writes of 64 bytes to the child's stdin stream, then its answer.
    static void Messages(int iterations)
    {
        var info = Command(child, "sink");
        info.RedirectStandardInput = true;
        info.RedirectStandardOutput = true;
        using var p = Start(info);
        var to = p.StandardInput.BaseStream;
        var from = p.StandardOutput.BaseStream;
        var msg = new byte[MessageSize];
        Array.Fill(msg, (byte)'m');
        var ack = new byte[1];
        Run(iterations, () =>
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < MessagesPerIteration; i++) to.Write(msg, 0, msg.Length);
            to.Flush();
            Require(from.Read(ack, 0, 1) == 1 && ack[0] == 'a', "no acknowledgement");
            return Micros(t0);
        });
        p.StandardInput.Close();
        Require(from.Read(ack, 0, 1) == 0, "sink acknowledged too much");
        CheckExit(p, "sink");
    }

    // ---- children: 1,000 children, their exits observed with WaitForExitAsync (the runtime's
    // SIGCHLD handling completes the tasks).
    static double ChildrenOnce()
    {
        long t0 = Stopwatch.GetTimestamp();
        var procs = new List<Process>(ChildrenPerIteration);
        var exits = new List<Task>(ChildrenPerIteration);
        for (int i = 0; i < ChildrenPerIteration; i++)
        {
            var p = Start(Command(child, "exit"));
            procs.Add(p);
            exits.Add(p.WaitForExitAsync());
        }
        Task.WaitAll(exits);
        double us = Micros(t0);
        foreach (var p in procs)
        {
            Require(p.ExitCode == 0, $"child {p.Id} exited with {p.ExitCode}");
            p.Dispose();
        }
        return us;
    }

    static int Main(string[] args)
    {
        if (args.Length != 3)
        {
            Console.Error.WriteLine("usage: peer_dotnet WORKLOAD ITERATIONS CHILD");
            return 2;
        }
        workload = args[0];
        if (!int.TryParse(args[1], out int iterations) || iterations <= 0)
        {
            Console.Error.WriteLine($"ITERATIONS must be a positive integer, not '{args[1]}'");
            return 2;
        }
        child = args[2];
        if (!Path.IsPathRooted(child) || !File.Exists(child))
        {
            Console.Error.WriteLine($"CHILD must be the absolute path of peer_child, not '{child}'");
            return 2;
        }
        try
        {
            return Dispatch(iterations);
        }
        catch (Exception e) when (e is PeerFailure || e is IOException || e is System.ComponentModel.Win32Exception
                                  || e is InvalidOperationException)
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"{workload}: {e.Message}");
            return 1;
        }
    }

    static int Dispatch(int iterations)
    {
        switch (workload)
        {
            case "spawn": Run(iterations, SpawnTrue); break;
            case "spawn_2g":
                var memory = Touch2G();
                Run(iterations, SpawnTrue);
                GC.KeepAlive(memory);
                break;
            case "spawn_fds":
                var fds = ExtraDescriptors();
                Run(iterations, SpawnTrue);
                Info("child_fds", ChildFds());
                foreach (var fd in fds) close(fd);
                break;
            case "stream": Run(iterations, StreamOnce); break;
            case "forward": Run(iterations, ForwardOnce); break;
            case "roundtrip": Roundtrip(iterations); break;
            case "kill_eof": KillEof(iterations); break;
            case "threads": Threads(iterations); break;
            case "messages": Messages(iterations); break;
            case "children": Run(iterations, ChildrenOnce, ChildrenWarmups); break;
            default:
                Console.Error.WriteLine($"unknown workload '{workload}'");
                return 2;
        }
        return 0;
    }
}
