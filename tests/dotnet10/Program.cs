// The .NET side of tether's interop tests, run by the real .NET 10 runtime: as a child that opens
// the handle string its tether parent passed (AnonymousPipeClientStream), and as a parent that
// starts a tether child (AnonymousPipeServerStream + Process.Start + GetClientHandleAsString()).
// Every line it prints is flushed at once (Console.Out autoflushes), so a test can read them as
// they come. Commands (CMD is a command line in which "{handle}" becomes the client handle string):
//
//   client-writes HANDLE N|forever   writes N lines "line I from .NET" (or until killed)
//   client-reads HANDLE              prints "client opened the pipe", reads to end-of-file, prints
//                                    "client read L lines, B bytes"
//   parent-reads [--kill] -- CMD     reads what CMD writes to end-of-file; with --kill, kills CMD
//                                    after its first line and times the end-of-file
//   parent-writes N [--kill] -- CMD  writes N lines to CMD; with --kill, writes after killing it
//   forget [--patience-ms M] -- CMD  the bug: never calls DisposeLocalCopyOfClientHandle(); prints
//                                    "holders PID:FD", waits for a line on stdin, then disposes
//   sibling [--patience-ms M] -- CMD1 -- CMD2
//                                    the bug: starts CMD2 before disposing of CMD1's client end, so
//                                    CMD2 inherits it; prints "holders PID:FD", waits for a line on
//                                    stdin, then closes CMD2's pipe (CMD2 must read to end-of-file)
//
// Exit codes: 0 when every step behaved as described, 1 when one did not (a line says which),
// 2 for a usage error. No step waits without a bound, except the two stdin reads.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.IO.Pipes;
using System.Text;
using System.Threading.Tasks;

static class Program
{
    // How long a step waits for an end-of-file that must come.
    const int MustArriveMs = 20_000;

    static int Main(string[] args)
    {
        try
        {
            if (args.Length == 0) return Usage("no command");
            return args[0] switch
            {
                "client-writes" => ClientWrites(args),
                "client-reads" => ClientReads(args),
                "parent-reads" => ParentReads(args),
                "parent-writes" => ParentWrites(args),
                "forget" => Forget(args),
                "sibling" => Sibling(args),
                _ => Usage($"unknown command '{args[0]}'"),
            };
        }
        catch (UsageException e)
        {
            return Usage(e.Message);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"TetherInterop: {e.GetType().Name}: {e.Message}");
            return 1;
        }
    }

    sealed class UsageException(string message) : Exception(message);

    static int Usage(string why)
    {
        Console.Error.WriteLine($"TetherInterop: {why}; see the commands at the top of tests/dotnet10/Program.cs");
        return 2;
    }

    static int Fail(string what)
    {
        Console.WriteLine("UNEXPECTED: " + what);
        return 1;
    }

    // ---- The child's side: AnonymousPipeClientStream(direction, handleString).

    static int ClientWrites(string[] args)
    {
        if (args.Length != 3) throw new UsageException("client-writes HANDLE N|forever");
        bool forever = args[2] == "forever";
        long lines = forever ? long.MaxValue : long.Parse(args[2]);
        using var pipe = new AnonymousPipeClientStream(PipeDirection.Out, args[1]);
        using var writer = new StreamWriter(pipe, new UTF8Encoding(false)) { NewLine = "\n" };
        for (long i = 1; i <= lines; i++) writer.WriteLine($"line {i} from .NET");
        return 0;
    }

    static int ClientReads(string[] args)
    {
        if (args.Length != 2) throw new UsageException("client-reads HANDLE");
        using var pipe = new AnonymousPipeClientStream(PipeDirection.In, args[1]);
        Console.WriteLine("client opened the pipe");
        var (lines, bytes) = CountToEnd(pipe);
        Console.WriteLine($"client read {lines} lines, {bytes} bytes");
        return 0;
    }

    // Lines (newlines) and bytes up to end-of-file.
    static (long lines, long bytes) CountToEnd(Stream s)
    {
        var buf = new byte[65536];
        long lines = 0, bytes = 0;
        for (int n; (n = s.Read(buf, 0, buf.Length)) > 0;)
        {
            bytes += n;
            lines += buf.AsSpan(0, n).Count((byte)'\n');
        }
        return (lines, bytes);
    }

    // ---- The parent's side: AnonymousPipeServerStream + Process.Start.

    // Splits "[options] -- CMD [-- CMD2]" into the options and the command lines.
    static (List<string> options, List<List<string>> commands) Split(string[] args, int from)
    {
        var options = new List<string>();
        var commands = new List<List<string>>();
        for (int i = from; i < args.Length; i++)
        {
            if (args[i] == "--") commands.Add(new List<string>());
            else if (commands.Count == 0) options.Add(args[i]);
            else commands[^1].Add(args[i]);
        }
        if (commands.Count == 0 || commands.Exists(c => c.Count == 0))
            throw new UsageException($"{args[0]}: a command after --");
        return (options, commands);
    }

    static int PatienceMs(List<string> options)
    {
        int i = options.IndexOf("--patience-ms");
        return i >= 0 && i + 1 < options.Count ? int.Parse(options[i + 1]) : 1000;
    }

    // Process.Start with "{handle}" replaced; everything else of ours (stdio included) is
    // inherited as .NET does it: every descriptor that is not close-on-exec.
    static Process Start(List<string> command, string handle)
    {
        var info = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        for (int i = 1; i < command.Count; i++) info.ArgumentList.Add(command[i].Replace("{handle}", handle));
        return Process.Start(info) ?? throw new InvalidOperationException($"Process.Start('{command[0]}') returned null");
    }

    static string Describe(Process p)
    {
        p.WaitForExit();
        return $"exited with code {p.ExitCode}";
    }

    static long Fd(AnonymousPipeServerStream s) => s.SafePipeHandle.DangerousGetHandle().ToInt64();

    static int ParentReads(string[] args)
    {
        var (options, commands) = Split(args, 1);
        bool kill = options.Contains("--kill");
        using var server = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.Inheritable);
        using var child = Start(commands[0], server.GetClientHandleAsString());
        server.DisposeLocalCopyOfClientHandle();
        var reader = new StreamReader(server, new UTF8Encoding(false));
        if (kill)
        {
            Console.WriteLine($"first line: {reader.ReadLine()}");
            var clock = Stopwatch.StartNew();
            child.Kill(entireProcessTree: true);
            var rest = Task.Run(() => CountToEnd(reader.BaseStream));
            if (!rest.Wait(MustArriveMs)) return Fail($"no end-of-file {MustArriveMs} ms after Kill()");
            Console.WriteLine($"end-of-file {clock.ElapsedMilliseconds} ms after Kill(); the child {Describe(child)}");
            return 0;
        }
        var all = Task.Run(() => reader.ReadToEnd());
        if (!all.Wait(MustArriveMs))
        {
            child.Kill(entireProcessTree: true);
            return Fail($"no end-of-file within {MustArriveMs} ms");
        }
        string text = all.Result;
        int lines = text.Split('\n').Length - 1;
        string last = lines > 0 ? text.TrimEnd('\n')[(text.TrimEnd('\n').LastIndexOf('\n') + 1)..] : "";
        Console.WriteLine($"parent read {lines} lines, {Encoding.UTF8.GetByteCount(text)} bytes, the last \"{last}\", then end-of-file; the child {Describe(child)}");
        return 0;
    }

    static int ParentWrites(string[] args)
    {
        if (args.Length < 2) throw new UsageException("parent-writes N [--kill] -- CMD");
        long n = long.Parse(args[1]);
        var (options, commands) = Split(args, 2);
        using var server = new AnonymousPipeServerStream(PipeDirection.Out, HandleInheritability.Inheritable);
        using var child = Start(commands[0], server.GetClientHandleAsString());
        server.DisposeLocalCopyOfClientHandle();
        var writer = new StreamWriter(server, new UTF8Encoding(false)) { NewLine = "\n" };
        for (long i = 1; i <= n; i++) writer.WriteLine($"line {i} from .NET");
        writer.Flush();
        if (options.Contains("--kill"))
        {
            child.Kill(entireProcessTree: true);
            child.WaitForExit();
            try
            {
                writer.WriteLine("one line more");
                writer.Flush();
                return Fail("a write to the killed child's pipe succeeded");
            }
            catch (IOException e)
            {
                Console.WriteLine($"write after Kill() failed: {e.Message}");
                return 0;
            }
        }
        writer.Dispose();  // the child's end-of-file
        Console.WriteLine($"parent wrote {n} lines; the child {Describe(child)}");
        return 0;
    }

    // ---- The bugs, made observable: the parent prints what holders needs and waits for stdin.

    static int Forget(string[] args)
    {
        var (options, commands) = Split(args, 1);
        int patience = PatienceMs(options);
        using var server = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.Inheritable);
        string handle = server.GetClientHandleAsString();
        using var child = Start(commands[0], handle);
        // The bug: no server.DisposeLocalCopyOfClientHandle() here.
        var reader = new StreamReader(server, new UTF8Encoding(false));
        Console.WriteLine($"read \"{reader.ReadLine()}\"");
        Console.WriteLine($"the child {Describe(child)}");
        var rest = Task.Run(() => reader.ReadToEnd());
        if (rest.Wait(patience)) return Fail("end-of-file arrived although our copy of the client end is open");
        Console.WriteLine($"no end-of-file after {patience} ms");
        Console.WriteLine($"holders {Environment.ProcessId}:{Fd(server)} (our copy of the client end: fd {handle})");
        Console.ReadLine();
        var clock = Stopwatch.StartNew();
        server.DisposeLocalCopyOfClientHandle();
        if (!rest.Wait(MustArriveMs)) return Fail("no end-of-file after DisposeLocalCopyOfClientHandle()");
        Console.WriteLine($"end-of-file {clock.ElapsedMilliseconds} ms after DisposeLocalCopyOfClientHandle()");
        return 0;
    }

    static int Sibling(string[] args)
    {
        var (options, commands) = Split(args, 1);
        if (commands.Count != 2) throw new UsageException("sibling: two commands, each after --");
        int patience = PatienceMs(options);
        using var first = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.Inheritable);
        using var writerChild = Start(commands[0], first.GetClientHandleAsString());
        var second = new AnonymousPipeServerStream(PipeDirection.Out, HandleInheritability.Inheritable);
        // The bug: the first client end is still ours here, and inheritable, so this child gets it too.
        using var sibling = Start(commands[1], second.GetClientHandleAsString());
        first.DisposeLocalCopyOfClientHandle();
        second.DisposeLocalCopyOfClientHandle();
        var reader = new StreamReader(first, new UTF8Encoding(false));
        Console.WriteLine($"read \"{reader.ReadLine()}\"");
        Console.WriteLine($"the first child {Describe(writerChild)}");
        var rest = Task.Run(() => reader.ReadToEnd());
        if (rest.Wait(patience)) return Fail("end-of-file arrived although the sibling holds the client end");
        Console.WriteLine($"no end-of-file after {patience} ms");
        Console.WriteLine($"holders {Environment.ProcessId}:{Fd(first)} (the sibling: PID {sibling.Id})");
        Console.ReadLine();
        var clock = Stopwatch.StartNew();
        second.Dispose();  // the sibling reads to end-of-file and exits
        if (!rest.Wait(MustArriveMs)) return Fail("no end-of-file after the sibling's pipe was closed");
        Console.WriteLine($"end-of-file {clock.ElapsedMilliseconds} ms after the sibling's pipe was closed; the sibling {Describe(sibling)}");
        return 0;
    }
}
