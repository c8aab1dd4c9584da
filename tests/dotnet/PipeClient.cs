// A .NET child in the shape the seed describes: it opens the pipe end its parent passed by
// handle string (AnonymousPipeClientStream(PipeDirection.Out, handleString)), writes lines,
// and disposes the stream. Used by tests/linux/dotnet_interop_test.cpp with a tether parent.
// Usage: mono PipeClient.exe <handle> [lines]
using System;
using System.IO;
using System.IO.Pipes;

public static class PipeClient
{
    public static int Main(string[] args)
    {
        if (args.Length < 1)
        {
            Console.Error.WriteLine("usage: PipeClient <handle> [lines]");
            return 2;
        }
        int lines = args.Length > 1 ? int.Parse(args[1]) : 3;
        try
        {
            using (var pipe = new AnonymousPipeClientStream(PipeDirection.Out, args[0]))
            using (var writer = new StreamWriter(pipe))
            {
                writer.NewLine = "\n";
                for (int i = 1; i <= lines; i++)
                    writer.WriteLine("line " + i + " from .NET");
            }
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine("PipeClient: " + e.GetType().Name + ": " + e.Message);
            return 1;
        }
    }
}
