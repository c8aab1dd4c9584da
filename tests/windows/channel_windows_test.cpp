// Windows only: the channel's handle passing. The server (the parent, which made the channel)
// pushes handles into the child with DuplicateHandle and pulls the child's out with
// DUPLICATE_CLOSE_SOURCE; these tests count handles in both processes (GetProcessHandleCount)
// before and after, and cover a peer that is gone and handle values that are garbage.
#include "support/harness.hpp"
#include "support/windows_util.hpp"
#include "windows/channel_trust.hpp"
#include "windows/win.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using tether_test::frame_with_handle;
using tether_test::read_until_eof;
using tether_test::spawn_with_channel;

namespace {

// The system-wide handle list (SystemExtendedHandleInformation = 64), declared here as the
// MinGW headers do not. One entry per handle of every process.
struct handle_entry {
    PVOID object;
    ULONG_PTR pid;
    ULONG_PTR value;
    ULONG access;
    USHORT creator_back_trace_index;
    USHORT type_index;
    ULONG attributes;
    ULONG reserved;
};
struct handle_list {
    ULONG_PTR count;
    ULONG_PTR reserved;
    handle_entry entries[1];
};
extern "C" LONG NTAPI NtQuerySystemInformation(int, PVOID, ULONG, PULONG);

// The system-wide handle list; empty if the query failed.
std::vector<char> system_handles() {
    std::vector<char> buf(1 << 20);
    for (;;) {
        ULONG need = 0;
        LONG st = NtQuerySystemInformation(64, buf.data(), static_cast<ULONG>(buf.size()), &need);
        if (st == static_cast<LONG>(0xC0000004L)) {  // STATUS_INFO_LENGTH_MISMATCH
            buf.resize(std::max<std::size_t>(buf.size() * 2, need + 4096));
            continue;
        }
        if (st != 0) buf.clear();
        return buf;
    }
}

template <class F>
void for_each_handle(const std::vector<char>& buf, F f) {
    if (buf.empty()) return;
    auto* list = reinterpret_cast<const handle_list*>(buf.data());
    for (ULONG_PTR i = 0; i < list->count; ++i) f(list->entries[i]);
}

// The type index of File objects (pipes and disk files are both), from a pipe of ours.
USHORT file_type_index() {
    static const USHORT index = [] {
        auto [r, w] = tether::make_pipe();
        USHORT found = 0xffff;
        for_each_handle(system_handles(), [&](const handle_entry& e) {
            if (e.pid == ::GetCurrentProcessId() && e.value == reinterpret_cast<ULONG_PTR>(r.get())) found = e.type_index;
        });
        return found;
    }();
    return index;
}

// How many File handles (pipe ends, files) process `pid` has open. GetProcessHandleCount would
// do for our own process on Windows, but wine 8 reports 0 for every process, so the count comes
// from the system-wide handle list, which also lets the parent count the child's handles. Only
// File objects are counted: threads, events and timers come and go with the thread pool on
// their own schedule (a whole-process count drifted by one in a full run under wine).
DWORD handle_count(DWORD pid = ::GetCurrentProcessId()) {
    const USHORT type = file_type_index();
    DWORD n = 0;
    for_each_handle(system_handles(), [&](const handle_entry& e) {
        if (e.pid == pid && e.type_index == type) ++n;
    });
    return n;
}

// Warms up what tether creates once per process or thread (the thread's I/O event, the random
// number provider), so that later counts only see what a test itself opens and closes.
void warm_up() {
    auto [r, w] = tether::make_pipe();
    tether::write_all(w, "x");
    std::byte b[1];
    (void)tether::read(r, b);
}

// A temporary file holding `text`, positioned at its start, deleted when its last handle closes.
tether::unique_handle temp_file(std::string_view text) {
    wchar_t dir[MAX_PATH], path[MAX_PATH];
    ::GetTempPathW(MAX_PATH, dir);
    ::GetTempFileNameW(dir, L"tch", 0, path);
    SECURITY_ATTRIBUTES sa{sizeof sa, nullptr, FALSE};
    tether::unique_handle f(::CreateFileW(path, GENERIC_READ | GENERIC_WRITE,
                                          FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, &sa, CREATE_ALWAYS,
                                          FILE_ATTRIBUTE_TEMPORARY | FILE_FLAG_DELETE_ON_CLOSE, nullptr));
    if (!f) throw std::runtime_error("cannot create a temporary file");
    tether::write_all(f, text);
    ::SetFilePointer(f.get(), 0, nullptr, FILE_BEGIN);
    return f;
}

std::vector<std::byte> data_frame(std::string_view text) {
    std::vector<std::byte> f(12);
    f[0] = f[1] = std::byte{0x54};
    f[2] = std::byte{1};  // version
    f[3] = std::byte{1};  // data
    for (std::size_t i = 0; i < 4; ++i) f[8 + i] = static_cast<std::byte>((text.size() >> (8 * i)) & 0xff);
    for (char ch : text) f.push_back(static_cast<std::byte>(ch));
    return f;
}

// The client's hello: "TtH2", its pid (u32) and its channel handle's value (u64), little-endian.
std::vector<std::byte> hello_from(DWORD pid, tether::native_handle channel_end) {
    std::vector<std::byte> h = {std::byte{'T'}, std::byte{'t'}, std::byte{'H'}, std::byte{'2'}};
    for (int i = 0; i < 4; ++i) h.push_back(static_cast<std::byte>((pid >> (8 * i)) & 0xff));
    auto value = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(channel_end));
    for (int i = 0; i < 8; ++i) h.push_back(static_cast<std::byte>((value >> (8 * i)) & 0xff));
    return h;
}

}  // namespace

// Reports its handle count, takes a pipe end and a file from the parent, uses them, gives a
// pipe end of its own back, and reports its handle count again.
TETHER_CHILD_ROLE(chw_worker) {
    warm_up();
    auto ctl = tether::channel::inherited("control");
    ctl.send("count " + std::to_string(handle_count()));
    auto m = ctl.receive();
    if (m.handles.size() != 2) return 10;
    for (auto& h : m.handles)
        if (tether::is_inheritable(h)) return 11;
    auto text = tether::read_to_end(m.handles[1]);
    tether::write_all(m.handles[0], "child read: " + text);
    m.handles.clear();
    auto [r, w] = tether::make_pipe();
    ctl.send_handle(std::move(r));
    tether::write_all(w, "written by the child");
    w.reset();
    if (ctl.receive().text() != "count?") return 12;  // the parent holds our read end by now
    ctl.send("count " + std::to_string(handle_count()));
    return ctl.receive().is_goodbye() ? 0 : 13;
}

// Opens the channel (its hello goes out) and exits without goodbye.
TETHER_CHILD_ROLE(chw_open_and_exit) {
    auto ctl = tether::channel::inherited("control");
    return 0;
}

// Sends a pipe end to the parent and exits at once, before the parent can take it.
TETHER_CHILD_ROLE(chw_send_and_exit) {
    auto ctl = tether::channel::inherited("control");
    auto [r, w] = tether::make_pipe();
    ctl.send_handle(std::move(r));
    return 3;
}

// Says "ready", then never reads again: it stays alive until the parent kills it.
TETHER_CHILD_ROLE(chw_ready_never_read) {
    auto ctl = tether::channel::inherited("control");
    ctl.send("ready");
    ::WaitForSingleObject(::GetCurrentProcess(), INFINITE);  // our own end: never comes
    return 4;
}

TEST(ChannelWindows, HandleCountSeesOurHandles) {
    // The counting tests below mean nothing if the count does not move (it does under wine 8).
    warm_up();
    DWORD before = handle_count();
    ASSERT_NE(before, 0u) << "NtQuerySystemInformation(SystemExtendedHandleInformation) failed";
    ASSERT_NE(file_type_index(), 0xffff) << "our own pipe is not in the system handle list";
    DWORD reported = 0;
    ::GetProcessHandleCount(::GetCurrentProcess(), &reported);
    if (reported == 0)
        std::cout << "[   NOTE   ] GetProcessHandleCount reports 0 here (wine): File handles are counted "
                     "from the system handle list instead\n";
    else
        EXPECT_GE(reported, before) << "every File handle is a handle";

    {
        auto p = tether::make_pipe();
        EXPECT_EQ(handle_count(), before + 2);
    }
    EXPECT_EQ(handle_count(), before);
    {
        auto file = temp_file("x");
        EXPECT_EQ(handle_count(), before + 1) << "a disk file is a File object too";
    }
    EXPECT_EQ(handle_count(), before);
}

TEST(ChannelWindows, HandlesPassBothWaysWithExactOwnership) {
    warm_up();
    auto [ctl, theirs] = tether::make_channel();
    auto c = spawn_with_channel("chw_worker", std::move(theirs));
    auto first = ctl.receive();  // also reads the child's hello: its process is opened now
    ASSERT_EQ(first.text().substr(0, 6), "count ") << first.describe();
    const auto child_before = std::string(first.text());
    const DWORD before = handle_count();
    const auto child_pid = static_cast<DWORD>(c.pid());
    const DWORD child_seen_before = handle_count(child_pid);  // it waits in receive() now
    ASSERT_NE(child_seen_before, 0u);

    auto [r, w] = tether::make_pipe();
    std::vector<tether::unique_handle> give;
    give.push_back(std::move(w));
    give.push_back(temp_file("the file's text"));
    ctl.send_with_handles({}, std::move(give));
    EXPECT_EQ(handle_count(), before + 1) << "after the send only our read end is left";

    auto m = ctl.receive(c);
    ASSERT_EQ(m.handles.size(), 1u) << m.describe();
    EXPECT_EQ(handle_count(), before + 2) << "the child's read end is ours now";
    EXPECT_FALSE(tether::is_inheritable(m.handles[0]));
    EXPECT_EQ(read_until_eof(m.handles[0]), "written by the child");
    EXPECT_EQ(read_until_eof(r), "child read: the file's text");
    m.handles.clear();
    r.reset();
    EXPECT_EQ(handle_count(), before);

    ctl.send("count?");
    auto again = ctl.receive(c);
    EXPECT_EQ(again.text(), child_before) << "the child's own count changed";
    EXPECT_EQ(handle_count(child_pid), child_seen_before) << "the child's count, seen from here, changed";
    ctl.close();
    EXPECT_EQ(c.wait().code, 0);
    EXPECT_EQ(handle_count(), before - 1) << "close() releases the channel's pipe";
}

TEST(ChannelWindows, HandleSentToAPeerThatIsGoneIsNotLeaked) {
    warm_up();
    auto [ctl, theirs] = tether::make_channel();
    auto c = spawn_with_channel("chw_open_and_exit", std::move(theirs));
    auto m = ctl.receive(c);
    ASSERT_TRUE(m.is_vanished()) << m.describe();
    EXPECT_EQ(m.describe(), "vanished: exited with code 0");
    const DWORD before = handle_count();
    std::error_code ec;
    ctl.send_handle(temp_file("never delivered"), ec);
    EXPECT_EQ(ec, tether::errc::peer_gone) << ec.message();
    EXPECT_EQ(handle_count(), before) << "the file handle must be closed, not kept";
}

TEST(ChannelWindows, HandleFromAChildThatExitedIsPeerGoneAndNothingLeaks) {
    // Documented limit: a handle is pulled out of the child when the parent reads the frame;
    // a child that has exited by then took its handle with it (freed by Windows, not leaked).
    warm_up();
    auto [ctl, theirs] = tether::make_channel();
    auto c = spawn_with_channel("chw_send_and_exit", std::move(theirs));
    EXPECT_EQ(c.wait().code, 3);
    const DWORD before = handle_count();
    std::error_code ec;
    auto m = ctl.receive(ec);
    EXPECT_EQ(ec, tether::errc::peer_gone) << ec.message() << " / " << m.describe();
    EXPECT_FALSE(ctl.is_open()) << "the frame could not be delivered whole: the channel is closed";
    EXPECT_LE(handle_count(), before) << "nothing was taken from the dead child";
}

TEST(ChannelWindows, HandlePushedIntoAPeerThatDiesIsFreedWithIt) {
    warm_up();
    auto [ctl, theirs] = tether::make_channel();
    auto c = spawn_with_channel("chw_ready_never_read", std::move(theirs));
    ASSERT_EQ(ctl.receive().text(), "ready");
    auto [r, w] = tether::make_pipe();
    ctl.send_handle(std::move(w));  // now in the child's handle table, in a frame it never reads
    std::byte buf[8];
    std::error_code ec;
    (void)tether::read_for(r, buf, 50ms, ec);
    EXPECT_EQ(ec, tether::errc::timed_out) << "the child holds the write end: no end-of-file yet";
    c.kill();
    (void)c.wait();
    EXPECT_EQ(tether::read_for(r, buf, 10s, ec), 0u);
    EXPECT_FALSE(ec) << "end-of-file expected once the child is gone: " << ec.message();
}

TEST(ChannelWindows, GarbageHandleValuesAreProtocolErrors) {
    // The client side wraps values the server pushed: 0 and a value that is not open are refused.
    for (std::uint64_t value : {std::uint64_t{0}, std::uint64_t{0x7ffffff0}, std::uint64_t{1} << 40}) {
        auto [server, theirs] = tether::make_channel();
        tether::channel client(std::move(theirs));
        auto f = frame_with_handle(value);
        tether::write_all(server.native(), std::span<const std::byte>(f));
        std::error_code ec;
        EXPECT_FALSE(client.receive_for(5s, ec));
        EXPECT_EQ(ec, tether::errc::protocol_error) << "client, value " << value << ": " << ec.message();
        EXPECT_FALSE(client.is_open());
    }
    // The server side pulls: a value that is not a handle in the peer is refused (the raw peer
    // here is in this process, and its hello names its own end truly).
    {
        auto [server, theirs] = tether::make_channel();
        tether::detail::in_process_client_opened(theirs.get());  // as a channel of ours would be
        auto bytes = hello_from(::GetCurrentProcessId(), theirs.get());
        auto f = frame_with_handle(0x7ffffff0);
        bytes.insert(bytes.end(), f.begin(), f.end());
        tether::write_all(theirs, std::span<const std::byte>(bytes));
        std::error_code ec;
        EXPECT_FALSE(server.receive_for(5s, ec));
        EXPECT_EQ(ec, tether::errc::protocol_error) << ec.message();
        EXPECT_FALSE(server.is_open());
        tether::detail::in_process_client_closed(theirs.get());
    }
    // A hello that breaks off is ordinary (bad) data, not a hello.
    {
        auto [server, theirs] = tether::make_channel();
        tether::write_all(theirs, "TtHx12345678");  // 12 bytes: a whole (bad) header
        std::error_code ec;
        EXPECT_FALSE(server.receive_for(5s, ec));
        EXPECT_EQ(ec, tether::errc::protocol_error) << ec.message();
    }
}

TEST(ChannelWindows, HandlesToARawPeerWithoutHelloAreRefused) {
    auto [server, theirs] = tether::make_channel();
    tether::write_all(theirs, "TT");  // a frame's start, no hello: not a tether channel client
    std::error_code ec;
    server.send_handle(temp_file("x"), ec);
    EXPECT_EQ(ec, tether::errc::not_supported) << ec.message();
}

TEST(ChannelWindows, HelloSplitByATimeoutIsStillAHello) {
    auto [server, theirs] = tether::make_channel();
    // A raw in-process client: registered as a channel's would be, so its claim of our pid holds.
    tether::detail::in_process_client_opened(theirs.get());
    auto hello = hello_from(::GetCurrentProcessId(), theirs.get());
    tether::write_all(theirs, std::span<const std::byte>(hello).first(3));
    EXPECT_FALSE(server.receive_for(20ms));
    auto rest = std::vector<std::byte>(hello.begin() + 3, hello.end());
    auto f = data_frame("after");
    rest.insert(rest.end(), f.begin(), f.end());
    tether::write_all(theirs, std::span<const std::byte>(rest));
    auto m = server.receive_for(5s);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->text(), "after") << "the hello must not be delivered as data";
    // The hello named this process, so a handle is pushed into it, and the client end finds it.
    auto [r, w] = tether::make_pipe();
    server.send_handle(std::move(w));
    tether::detail::in_process_client_closed(theirs.get());  // the channel registers it again
    tether::channel client(std::move(theirs));
    auto got = client.receive_for(5s);
    ASSERT_TRUE(got);
    ASSERT_EQ(got->handles.size(), 1u);
    EXPECT_FALSE(tether::is_inheritable(got->handles[0]));
    tether::write_all(got->handles[0], "via the pushed handle");
    got->handles.clear();
    EXPECT_EQ(read_until_eof(r), "via the pushed handle");
}

TEST(ChannelWindows, ChannelEndsAreNonInheritableDuplexPipes) {
    auto [ours, theirs] = tether::make_channel();
    EXPECT_FALSE(tether::is_inheritable(ours.native()));
    EXPECT_FALSE(tether::is_inheritable(theirs));
    EXPECT_EQ(::GetFileType(theirs.get()), static_cast<DWORD>(FILE_TYPE_PIPE));
}

TEST(ChannelWindows, CopiesPushedForAFrameThatFailsAreTakenBack) {
    // The second handle cannot be duplicated, so the frame is never sent: the copy of the first
    // one, already pushed into the peer (this process, through an in-process client), must not
    // stay behind there.
    warm_up();
    auto [server, theirs] = tether::make_channel();
    tether::channel client(std::move(theirs));  // its hello names this process
    auto [r, w] = tether::make_pipe();
    const DWORD before = handle_count();
    std::vector<tether::unique_handle> give;
    give.push_back(std::move(w));
    give.push_back(tether::unique_handle(reinterpret_cast<HANDLE>(std::uintptr_t{0x7ffffff0})));  // not open
    std::error_code ec;
    server.send_with_handles({}, std::move(give), ec);
    EXPECT_TRUE(ec) << "a handle that is not open cannot be sent";
    EXPECT_EQ(handle_count(), before - 1) << "our write end is closed and its pushed copy taken back";
    EXPECT_EQ(read_until_eof(r), "") << "no copy of the write end is left anywhere";
}
