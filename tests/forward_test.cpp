// Pipe capacity (make_pipe(d, capacity), stdio::pipe(capacity), pipe_capacity), chunk_reader
// and forward(): both platforms. Linux's splice paths into files and sockets are in linux/forward_posix_test.cpp.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using tether_test::role_options;

namespace {

constexpr std::size_t mib = 1024 * 1024;

// The byte at offset i of every stream the roles below write.
char pattern_at(std::uint64_t i) { return static_cast<char>(i % 251); }

// Reads `h` to end-of-file, checking every byte against the pattern.
struct pattern_reader {
    std::uint64_t total{0};
    std::uint64_t first_bad{~std::uint64_t{0}};
    void drain(tether::borrowed_handle h) {
        std::vector<std::byte> buf(65536);
        for (;;) {
            auto n = tether::read(h, buf);
            if (n == 0) return;
            for (std::size_t i = 0; i < n; ++i)
                if (static_cast<char>(buf[i]) != pattern_at(total + i) && first_bad == ~std::uint64_t{0})
                    first_bad = total + i;
            total += n;
        }
    }
};

}  // namespace

// Writes args[0] bytes of the pattern to stdout, in 64 KiB writes.
TETHER_CHILD_ROLE(fwd_stream) {
    auto want = std::stoull(args.at(0));
    std::vector<char> block(65536);
    for (std::uint64_t done = 0; done < want;) {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), want - done));
        for (std::size_t i = 0; i < n; ++i) block[i] = pattern_at(done + i);
        if (std::fwrite(block.data(), 1, n, stdout) != n) return 1;
        done += n;
    }
    return std::fflush(stdout) == 0 ? 0 : 1;
}

// ---- capacity

TEST(PipeCapacity, DefaultAndRequested) {
    auto plain = tether::make_pipe(tether::direction::in);
    std::error_code ec;
    EXPECT_EQ(tether::pipe_capacity(plain.ours, ec), 65536u) << ec.message();
    auto big = tether::make_pipe(tether::direction::in, mib);
    EXPECT_GE(tether::pipe_capacity(big.ours, ec), mib) << ec.message();
    EXPECT_FALSE(ec) << ec.message();
    // Our direction out: the capacity is asked of the pipe through the end the child would read
    // (Windows answers only through an end with read access).
    auto out = tether::make_pipe(tether::direction::out, 256 * 1024);
    EXPECT_GE(tether::pipe_capacity(out.theirs, ec), 256u * 1024) << ec.message();
}

TEST(PipeCapacity, OfSomethingThatIsNotAPipeIsAnError) {
    std::error_code ec;
    EXPECT_EQ(tether::pipe_capacity(tether::borrowed_handle{}, ec), 0u);
    EXPECT_TRUE(ec);
}

TEST(PipeCapacity, AChildStdoutPipeHoldsWhatWasAskedFor) {
    // 512 KiB fit in a 1 MiB pipe: the child can finish writing and exit before we read a byte
    // (with the default 64 KiB it would block in its write until we read).
    auto opt = role_options("fwd_stream", {std::to_string(512 * 1024)});
    opt.out = tether::stdio::pipe(mib);
    auto c = tether::spawn(std::move(opt));
    auto out = c.take_stdout();
    std::error_code ec;
    EXPECT_GE(tether::pipe_capacity(out, ec), mib) << ec.message();
    auto status = c.wait_for(60s);
    ASSERT_TRUE(status.has_value()) << "the child blocked writing 512 KiB into a 1 MiB pipe";
    EXPECT_TRUE(status->success());
    pattern_reader r;
    r.drain(out);
    EXPECT_EQ(r.total, 512u * 1024);
    EXPECT_EQ(r.first_bad, ~std::uint64_t{0});
}

// ---- chunk_reader

namespace {

bool on_a_page(std::span<const std::byte> chunk) { return reinterpret_cast<std::uintptr_t>(chunk.data()) % 4096 == 0; }

}  // namespace

TEST(ChunkReader, ItsBufferIsThePipesCapacityAndStartsOnAPage) {
    auto p = tether::make_pipe(tether::direction::in, 256 * 1024);
    std::error_code ec;
    auto cap = tether::pipe_capacity(p.ours, ec);
    ASSERT_FALSE(ec) << ec.message();
    tether::chunk_reader reader(p.ours);
    EXPECT_EQ(reader.buffer_size(), (std::min<std::size_t>(cap, mib) + 4095) / 4096 * 4096);
    EXPECT_GE(reader.buffer_size(), 256u * 1024);
    tether::write_all(p.theirs, "x");
    auto chunk = reader.next();
    ASSERT_EQ(chunk.size(), 1u);
    EXPECT_EQ(static_cast<char>(chunk[0]), 'x');
    EXPECT_TRUE(on_a_page(chunk)) << "the buffer is not page-aligned";
}

TEST(ChunkReader, AHandleThatIsNoPipeGets64KiBAndAnExplicitSizeWholePages) {
    auto p = tether::make_pipe();
    EXPECT_EQ(tether::chunk_reader(tether::borrowed_handle{}).buffer_size(), 65536u) << "no pipe: the default";
    EXPECT_EQ(tether::chunk_reader(p.read, 1).buffer_size(), 4096u);
    EXPECT_EQ(tether::chunk_reader(p.read, 4096).buffer_size(), 4096u);
    EXPECT_EQ(tether::chunk_reader(p.read, 5000).buffer_size(), 8192u);
}

TEST(ChunkReader, DeliversAChildsWholeStreamInOrderThenEndOfFileEveryTime) {
    constexpr std::uint64_t size = 3 * mib + 777;
    auto opt = role_options("fwd_stream", {std::to_string(size)});
    opt.out = tether::stdio::pipe(256 * 1024);
    auto c = tether::spawn(std::move(opt));
    auto out = c.take_stdout();
    tether::chunk_reader reader(out);
    std::uint64_t total = 0;
    std::uint64_t first_bad = ~std::uint64_t{0};
    bool all_fit = true;
    bool all_aligned = true;
    for (auto chunk = reader.next(); !chunk.empty(); chunk = reader.next()) {
        all_fit = all_fit && chunk.size() <= reader.buffer_size();
        all_aligned = all_aligned && on_a_page(chunk);
        for (std::size_t i = 0; i < chunk.size(); ++i)
            if (static_cast<char>(chunk[i]) != pattern_at(total + i) && first_bad == ~std::uint64_t{0})
                first_bad = total + i;
        total += chunk.size();
    }
    EXPECT_EQ(total, size);
    EXPECT_EQ(first_bad, ~std::uint64_t{0}) << "a byte out of order or lost";
    EXPECT_TRUE(all_fit);
    EXPECT_TRUE(all_aligned);
    std::error_code ec = tether::errc::closed;
    EXPECT_TRUE(reader.next(ec).empty()) << "end-of-file is sticky";
    EXPECT_FALSE(ec) << "end-of-file is not an error: " << ec.message();
    EXPECT_TRUE(c.wait().success());
}

TEST(ChunkReader, AFailedReadIsAnErrorNamingTheReader) {
    auto p = tether::make_pipe();
    tether::chunk_reader reader(p.write);  // the end that cannot be read
    std::error_code ec;
    EXPECT_TRUE(reader.next(ec).empty());
    EXPECT_TRUE(ec) << "a read of a write end succeeded";
    try {
        (void)reader.next();
        ADD_FAILURE() << "next() did not throw";
    } catch (const std::system_error& e) {
        EXPECT_TRUE(tether_test::contains(e.what(), "chunk_reader")) << e.what();
    }
}

// ---- forward()

namespace {

// A child's 8 MiB stream forwarded into a pipe that a thread reads and checks byte by byte.
void expect_forwarded_whole_and_in_order(const tether::forward_options& fopt) {
    constexpr std::uint64_t size = 8 * mib + 12345;
    auto opt = role_options("fwd_stream", {std::to_string(size)});
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto ends = tether::make_pipe();
    auto& r = ends.read;
    auto& w = ends.write;
    pattern_reader reader;
    std::thread t([&reader, &r] { reader.drain(r); });
    auto out = c.take_stdout();
    std::error_code ec;
    auto moved = tether::forward(out, w, fopt, ec);
    w.reset();  // end-of-file for the reader
    t.join();
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(moved, size);
    EXPECT_EQ(reader.total, size);
    EXPECT_EQ(reader.first_bad, ~std::uint64_t{0});
    EXPECT_TRUE(c.wait().success());
}

}  // namespace

TEST(Forward, AChildsStdoutIntoAnotherPipeArrivesWholeAndInOrder) {
    expect_forwarded_whole_and_in_order(tether::forward_options{});
}

// Linux: the thread is SCHED_BATCH meanwhile (tests/linux/forward_posix_test.cpp); Windows
// ignores the option: either way the bytes are the same.
TEST(Forward, BatchSchedulingMovesTheSameBytes) {
    tether::forward_options fopt;
    fopt.batch_scheduling = true;
    expect_forwarded_whole_and_in_order(fopt);
}

TEST(Forward, NothingToForwardIsZeroBytes) {
    auto opt = role_options("fwd_stream", {"0"});
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto ends = tether::make_pipe();
    auto& r = ends.read;
    auto& w = ends.write;
    auto out = c.take_stdout();
    EXPECT_EQ(tether::forward(out, w), 0u);
    w.reset();
    EXPECT_EQ(tether::read_to_end(r), "");
    EXPECT_TRUE(c.wait().success());
}

TEST(Forward, IntoAPipeWhoseReaderIsGoneIsPeerGone) {
    auto opt = role_options("fwd_stream", {std::to_string(4 * mib)});
    opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto ends = tether::make_pipe();
    auto& r = ends.read;
    auto& w = ends.write;
    r.reset();
    auto out = c.take_stdout();
    std::error_code ec;
    tether::forward(out, w, ec);
    EXPECT_EQ(ec, tether::errc::peer_gone) << ec.message();
    try {
        tether::forward(out, w);
        ADD_FAILURE() << "the throwing overload did not throw";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), tether::errc::peer_gone);
        EXPECT_TRUE(tether_test::contains(e.what(), "forward from")) << e.what();
    }
    out.reset();  // the child's writes now fail: it ends
    c.kill();
    c.wait();
}
