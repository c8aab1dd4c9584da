// Windows only: what a child inherits. The descriptor audit (1,000 stray inheritable handles in
// the parent, none valid in the child), Raymond Chen's reverse race (a foreign thread's
// CreateProcess(bInheritHandles=TRUE) never catches a tether pipe end), and concurrent spawns
// from many threads with no cross-inheritance.
#include "support/harness.hpp"
#include "detail/backend.hpp"
#include "windows/win.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;

namespace {

tether::borrowed_handle std_handle(DWORD which) { return tether::borrowed_handle(::GetStdHandle(which)); }

// Reads stdin up to the first '\n' (the child's instructions), without waiting for end-of-file.
std::string read_line_from_stdin() {
    std::string line;
    std::byte c[1];
    while (tether::read(std_handle(STD_INPUT_HANDLE), c) == 1 && static_cast<char>(c[0]) != '\n')
        line += static_cast<char>(c[0]);
    return line;
}

void block_until_stdin_closes() {
    std::byte c[64];
    while (tether::read(std_handle(STD_INPUT_HANDLE), c) > 0) {
    }
}

}  // namespace

TETHER_CHILD_ROLE(audit_handles) {
    // Every value listed on stdin was an inheritable handle in the parent: none may name the
    // stray pipe here. The first word is that pipe's identity; a value that is open in this
    // process but names another object (one of our own handles) is no stray.
    std::istringstream values(read_line_from_stdin());
    std::string stray_identity, text, valid;
    values >> stray_identity;
    int checked = 0;
    while (values >> text) {
        auto h = reinterpret_cast<HANDLE>(static_cast<std::intptr_t>(std::stoll(text)));
        DWORD flags = 0;
        ++checked;
        if (::GetHandleInformation(h, &flags) && tether::detail::handle_identity(h) == stray_identity)
            valid += " " + text;
    }
    auto report = tether::inherited("report");
    DWORD flags = 0;
    bool report_ok = ::GetHandleInformation(report.get(), &flags) != 0;
    tether::write_all(report, "checked=" + std::to_string(checked) + " report=" + (report_ok ? "ok" : "bad") +
                                  " valid:" + valid);
    report.reset();
    block_until_stdin_closes();
    return 0;
}

TEST(WindowsInheritance, DescriptorAuditThousandStrayInheritableHandles) {
    // The strays: 1,000 inheritable copies of a pipe's write end (what careless code around us
    // leaves behind). If any reached the child, the pipe's end-of-file would wait for it.
    auto [stray_read, stray_write] = tether::make_pipe();
    std::vector<tether::unique_handle> strays;
    std::string list;
    for (int i = 0; i < 1000; ++i) {
        HANDLE h = nullptr;
        ASSERT_TRUE(::DuplicateHandle(::GetCurrentProcess(), stray_write.get(), ::GetCurrentProcess(), &h, 0, TRUE,
                                      DUPLICATE_SAME_ACCESS));
        strays.emplace_back(h);
        list += tether::to_handle_string(strays.back()) + " ";
    }
    ASSERT_TRUE(tether::is_inheritable(strays.back()));
    std::string identity = tether::detail::handle_identity(stray_write.get());
    ASSERT_FALSE(identity.empty()) << "the stray pipe has no identity to look for";
    list = identity + " " + list;
    auto [report, report_theirs] = tether::make_pipe(tether::direction::in);
    auto opt = tether_test::role_options("audit_handles");
    opt.pass(std::move(report_theirs), "report");
    opt.in = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    auto in = c.take_stdin();
    tether::write_all(in, list + "\n");
    std::error_code ec;
    auto text = tether::read_to_end_for(report, 30s, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(text, "checked=1000 report=ok valid:") << "stray handle values valid in the child";
    // The child is alive and blocked: the stray pipe must still reach end-of-file once our
    // copies are gone, i.e. the child holds none of them.
    strays.clear();
    stray_write.reset();
    EXPECT_EQ(tether::read_to_end_for(stray_read, 10s, ec), "");
    EXPECT_FALSE(ec) << "end-of-file delayed: the child holds a stray handle (" << ec.message() << ")";
    in.reset();
    EXPECT_TRUE(c.wait().success());
}

namespace {

// Foreign code in our process: CreateProcessW(bInheritHandles=TRUE) with no handle list, the
// way .NET's Process.Start and most libraries call it. Its children block on a gate pipe.
class foreign_spawner {
public:
    foreign_spawner() {
        SECURITY_ATTRIBUTES sa{sizeof sa, nullptr, FALSE};
        HANDLE r = nullptr, w = nullptr;
        if (!::CreatePipe(&r, &w, &sa, 0)) throw std::runtime_error("CreatePipe");
        gate_read_.reset(r);
        gate_write_.reset(w);
        ::SetHandleInformation(r, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);  // the foreign code's own choice
    }
    foreign_spawner(const foreign_spawner&) = delete;
    foreign_spawner& operator=(const foreign_spawner&) = delete;
    ~foreign_spawner() {
        stop();
        release();
    }

    bool spawn_one() {
        std::wstring exe = tether::detail::widen(tether::current_executable_path());
        std::wstring cmd = L"\"" + exe + L"\" --role block_on_stdin";
        STARTUPINFOW si{};
        si.cb = sizeof si;
        si.dwFlags = STARTF_USESTDHANDLES;
        si.hStdInput = gate_read_.get();
        PROCESS_INFORMATION pi{};
        if (!::CreateProcessW(exe.c_str(), cmd.data(), nullptr, nullptr, TRUE, 0, nullptr, nullptr, &si, &pi))
            return false;
        ::CloseHandle(pi.hThread);
        children_.emplace_back(pi.hProcess);
        return true;
    }
    void start() {
        thread_ = std::thread([this] {
            while (!stop_.load()) {
                if (spawn_one()) count_.fetch_add(1);
            }
        });
    }
    void stop() {
        stop_.store(true);
        if (thread_.joinable()) thread_.join();
    }
    /// Lets every foreign child end and waits for them.
    void release() {
        gate_write_.reset();
        for (auto& c : children_) ::WaitForSingleObject(c.get(), 30000);
        children_.clear();
    }
    int count() const { return count_.load(); }

private:
    tether::unique_handle gate_read_, gate_write_;
    std::vector<tether::unique_handle> children_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<int> count_{0};
};

}  // namespace

TEST(WindowsInheritance, ForeignSpawnerCatchesAnInheritableHandle) {
    // The control: the detector works. A handle made inheritable "just for the call" is taken
    // by a foreign CreateProcess in that window, and end-of-file then waits for the foreign child.
    foreign_spawner foreign;
    auto [ours, theirs] = tether::make_pipe(tether::direction::in);
    ::SetHandleInformation(theirs.get(), HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);  // the naive way
    ASSERT_TRUE(foreign.spawn_one());
    ::SetHandleInformation(theirs.get(), HANDLE_FLAG_INHERIT, 0);
    theirs.reset();
    std::error_code ec;
    EXPECT_EQ(tether::read_to_end_for(ours, 300ms, ec), "");
    EXPECT_EQ(ec, tether::errc::timed_out) << "the foreign child should hold the leaked end";
    foreign.release();
    EXPECT_EQ(tether::read_to_end_for(ours, 20s, ec), "");
    EXPECT_FALSE(ec) << ec.message();
}

TEST(WindowsInheritance, ReverseRaceForeignChildrenNeverHoldTetherPipeEnds) {
    foreign_spawner foreign;
    foreign.start();
    int spawned = 0;
    for (int i = 0; i < 15; ++i) {
        auto [ours, theirs] = tether::make_pipe(tether::direction::in);
        auto opt = tether_test::role_options("write_to_named", {"log", "hello"});
        opt.pass(std::move(theirs), "log");
        auto c = tether::spawn(std::move(opt));
        std::error_code ec;
        // A foreign child holding our write end would block here until the gate opens.
        auto text = tether::read_to_end_for(ours, 10s, ec);
        ASSERT_FALSE(ec) << "spawn " << i << ": end-of-file delayed, a foreign child holds our pipe end";
        EXPECT_EQ(text, "hello");
        EXPECT_TRUE(c.wait().success());
        // The stdio pipes take the same road through the vault.
        auto echo = tether_test::role_options("echo_args", {"out"});
        echo.out = tether::stdio::pipe();
        auto e = tether::spawn(std::move(echo));
        auto out = e.take_stdout();
        ASSERT_EQ(tether::read_to_end_for(out, 10s, ec), "out\n")
            << "spawn " << i << ": stdout end-of-file delayed, a foreign child holds it";
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_TRUE(e.wait().success());
        spawned += 2;
    }
    foreign.stop();
    std::printf("reverse race: %d tether spawns while the foreign thread created %d inheriting children\n",
                spawned, foreign.count());
    EXPECT_GE(foreign.count(), 5) << "the foreign thread did not run alongside: nothing was tested";
}

TETHER_CHILD_ROLE(write_close_block) {
    {
        auto out = tether::inherited("out");
        tether::write_all(out, args.at(0));
    }
    block_until_stdin_closes();
    return 0;
}

TEST(WindowsInheritance, ConcurrentSpawnsDoNotCrossInherit) {
    // Every child stays alive until every thread has seen end-of-file on its own pipe: if any
    // child held another thread's pipe end, that thread's end-of-file could not come in time.
    constexpr int threads = 6, per_thread = 3;
    std::latch all_read(threads);
    std::atomic<int> ok{0};
    std::vector<std::string> errors(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            std::vector<tether::child> children;
            std::vector<tether::unique_handle> releases;
            for (int i = 0; i < per_thread; ++i) {
                auto [ours, theirs] = tether::make_pipe(tether::direction::in);
                std::string tag = "t" + std::to_string(t) + "-" + std::to_string(i);
                auto opt = tether_test::role_options("write_close_block", {tag});
                opt.pass(std::move(theirs), "out");
                opt.in = tether::stdio::pipe();
                children.push_back(tether::spawn(std::move(opt)));
                releases.push_back(children.back().take_stdin());
                std::error_code ec;
                auto text = tether::read_to_end_for(ours, 30s, ec);
                if (ec || text != tag) errors[t] += tag + ": '" + text + "' " + ec.message() + "; ";
                else ok.fetch_add(1);
            }
            all_read.count_down();
            all_read.wait();
            releases.clear();
            for (auto& c : children)
                if (!c.wait().success()) errors[t] += "a child failed; ";
        });
    }
    for (auto& th : pool) th.join();
    for (const auto& e : errors) EXPECT_EQ(e, "");
    EXPECT_EQ(ok.load(), threads * per_thread);
}
