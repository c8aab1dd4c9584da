// systemd's socket activation (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES), both ways, with readers
// and a writer tether did not write: libsystemd's sd_listen_fds_with_names(), Python's
// systemd.daemon, gunicorn serving HTTP on a socket we pass, and systemd-socket-activate
// starting a tether program. Then the bad input, on each side.
#include "support/harness.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

using namespace std::chrono_literals;
using tether_test::contains;

namespace {

const char* python = "/usr/bin/python3";  // Debian's, where python3-systemd and gunicorn live

// A listening TCP socket on 127.0.0.1 at a port the kernel picks.
tether::unique_handle listening_tcp(int& port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw std::system_error(errno, std::generic_category(), "listening socket");
    port = ntohs(a.sin_port);
    return tether::unique_handle(fd);
}

// One HTTP/1.0 request to 127.0.0.1:port; the whole response (the server closes after it).
std::string http_get(int port, const std::string& path) {
    tether::unique_handle s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "connect failed";
    tether::write_all(s, "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n");
    return tether::read_to_end_for(s, 60s);
}

bool python_has(const char* module) {
    return tether_test::run_captured({python, "-c", std::string("import ") + module}).code == 0;
}

tether::spawn_options with_stdout(std::vector<std::string> argv) {
    tether::spawn_options opt;
    opt.argv = std::move(argv);
    return opt;
}

}  // namespace

// A tether child: both conventions at once, each name taken with inherited().
TETHER_CHILD_ROLE(listen_reader) {
    std::string names;
    for (const auto& n : tether::inherited_names()) names += n + ",";
    std::printf("names=%s\n", names.c_str());
    auto http = tether::inherited("http");
    struct stat st {};
    ::fstat(http.get(), &st);
    std::printf("http=%d socket=%d cloexec=%d\n", http.get(), S_ISSOCK(st.st_mode) ? 1 : 0,
                (::fcntl(http.get(), F_GETFD) & FD_CLOEXEC) != 0 ? 1 : 0);
    std::printf("admin=%d\n", tether::inherited("admin").get());
    auto log = tether::inherited("log");
    tether::write_all(log, "via tether's own manifest\n");
    bool gone = std::getenv("LISTEN_PID") == nullptr && std::getenv("LISTEN_FDS") == nullptr &&
                std::getenv("LISTEN_FDNAMES") == nullptr;
    std::printf("env=%s\n", gone ? "gone" : "still there");
    return 0;
}

TEST(SocketActivation, ATetherChildTakesThemByNameBesideItsOwnManifest) {
    int port = 0;
    auto [admin_r, admin_w] = tether::make_pipe();
    auto [log_r, log_w] = tether::make_pipe();
    auto opt = tether_test::role_options("listen_reader");
    opt.pass(std::move(log_w), "log");  // pass() first: it still follows the LISTEN_FDS
    opt.pass_listen_fd(listening_tcp(port), "http");
    opt.pass_listen_fd(std::move(admin_r), "admin");
    auto out = tether_test::output_of(std::move(opt));
    EXPECT_TRUE(contains(out, "names=log,http,admin,")) << out;
    EXPECT_TRUE(contains(out, "http=3 socket=1 cloexec=1")) << out;
    EXPECT_TRUE(contains(out, "admin=4")) << out;
    EXPECT_TRUE(contains(out, "env=gone")) << out;
    EXPECT_EQ(tether::read_to_end_for(log_r, 60s), "via tether's own manifest\n");
}

TEST(SocketActivation, LibsystemdReadsThem) {
#ifndef TETHER_SD_LISTEN_PATH
    GTEST_SKIP() << "libsystemd (libsystemd-dev) was not found when configuring: no sd_listen_fds reader built";
#else
    int port = 0;
    auto [r, w] = tether::make_pipe();
    auto opt = with_stdout({TETHER_SD_LISTEN_PATH});
    opt.pass_listen_fd(listening_tcp(port), "web");
    opt.pass_listen_fd(std::move(r), "feed");
    EXPECT_EQ(tether_test::output_of(std::move(opt)), "2\n3 web socket\n4 feed fifo\nunset yes\n");
#endif
}

TEST(SocketActivation, PythonSystemdReadsThemAndAGrandchildDoesNot) {
    if (!python_has("systemd.daemon")) GTEST_SKIP() << python << " has no systemd.daemon (Debian: python3-systemd)";
    const char* script = "from systemd import daemon; print(daemon.listen_fds_with_names())";
    int port = 0;
    auto opt = with_stdout({python, "-c", script});
    opt.pass_listen_fd(listening_tcp(port), "web");
    EXPECT_EQ(tether_test::output_of(std::move(opt)), "{3: 'web'}\n");
    // Run through a shell that forks it: python is then the child's child, another process
    // than LISTEN_PID names, and ignores the descriptors it inherited.
    auto grand = with_stdout({"/bin/sh", "-c", std::string(python) + " -c \"" + script + "\"; true"});
    grand.pass_listen_fd(listening_tcp(port), "web");
    EXPECT_EQ(tether_test::output_of(std::move(grand)), "{}\n");
}

// A real server reads LISTEN_FDS and serves on the socket we made: gunicorn with a tiny WSGI
// app. It never binds a port of its own.
TEST(SocketActivation, GunicornServesOnTheSocketWePass) {
    if (!python_has("gunicorn")) GTEST_SKIP() << python << " has no gunicorn (Debian: gunicorn)";
    char dir[] = "/tmp/tether-wsgi-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    std::ofstream(std::string(dir) + "/app.py")
        << "def app(environ, start_response):\n"
           "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
           "    return [b'served on ' + environ['PATH_INFO'].encode()]\n";
    int port = 0;
    tether::spawn_options opt;
    opt.argv = {python, "-m", "gunicorn", "--chdir", dir, "--workers", "1", "--log-level", "warning", "app:app"};
    opt.pass_listen_fd(listening_tcp(port), "http");
    opt.err = tether::stdio::pipe();
    auto server = tether::spawn(std::move(opt));
    auto reply = http_get(port, "/tether");  // the socket listens already: the request waits
    EXPECT_TRUE(contains(reply, "200 OK")) << reply;
    EXPECT_TRUE(contains(reply, "served on /tether")) << reply;
    server.terminate();  // SIGTERM: gunicorn's graceful stop
    auto st = server.wait_for(60s);
    ASSERT_TRUE(st) << "gunicorn did not stop on SIGTERM";
    EXPECT_TRUE(st->success()) << st->describe() << "\n" << tether::read_to_end_for(server.take_stderr(), 5s);
    std::remove((std::string(dir) + "/app.py").c_str());
    ::rmdir((std::string(dir) + "/__pycache__").c_str());
    ::rmdir(dir);
}

// The other way: systemd's own writer starts a tether program that takes its socket by name.
TETHER_CHILD_ROLE(listen_server) {
    auto sock = tether::inherited("greeting");
    tether::unique_handle conn(::accept4(sock.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return 3;
    tether::write_all(conn, "hello from a socket-activated tether program\n");
    return 0;
}

TEST(SocketActivation, SystemdSocketActivateStartsATetherProgram) {
    const char* activate = "/usr/bin/systemd-socket-activate";
    if (::access(activate, X_OK) != 0) GTEST_SKIP() << activate << " is missing (Debian: systemd)";
    char dir[] = "/tmp/tether-sa-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    std::string path = std::string(dir) + "/s";
    auto role = tether_test::role_options("listen_server");
    tether::spawn_options opt;
    opt.argv = {activate, "--listen=" + path, "--fdname=greeting"};
    opt.argv.insert(opt.argv.end(), role.argv.begin(), role.argv.end());
    opt.err = tether::stdio::pipe();
    auto activator = tether::spawn(std::move(opt));
    // It says "Listening on <path> as 3." once the socket exists: then we connect.
    auto err = activator.take_stderr();
    std::string said;
    std::byte buf[256];
    while (!contains(said, "Listening on")) {
        auto n = tether::read_for(err, buf, 60s);
        ASSERT_GT(n, 0u) << "systemd-socket-activate ended before it listened: " << said;
        said.append(reinterpret_cast<const char*>(buf), n);
    }
    tether::unique_handle c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    ASSERT_EQ(::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    EXPECT_EQ(tether::read_to_end_for(c, 60s), "hello from a socket-activated tether program\n");
    auto st = activator.wait_for(60s);  // it execs the program: the program's exit is its exit
    ASSERT_TRUE(st);
    EXPECT_TRUE(st->success()) << st->describe() << said;
    ::unlink(path.c_str());
    ::rmdir(dir);
}

TEST(SocketActivation, BadInputOnTheParentSideIsRefusedByNameAndKeepsTheHandles) {
    struct row {
        std::string name;
        const char* expect;
    };
    for (const row& r : {row{"a:b", "without ':'"}, row{"", "1 to 255"}, row{"new\nline", "printable"},
                         row{std::string(256, 'x'), "1 to 255"}}) {
        auto [rd, wr] = tether::make_pipe();
        auto opt = with_stdout({"/bin/true"});
        opt.pass_listen_fd(std::move(rd), r.name);
        std::error_code ec;
        std::string message;
        auto c = tether::spawn(std::move(opt), ec, message);
        EXPECT_EQ(ec, tether::errc::invalid_argument) << message;
        EXPECT_TRUE(contains(message, r.expect)) << message;
        EXPECT_TRUE(opt.handles.at(0).h) << "a failed spawn gives the handle back";
    }
    auto clash = [](auto&& configure, const char* expect) {
        auto [rd, wr] = tether::make_pipe();
        auto opt = with_stdout({"/bin/true"});
        opt.pass_listen_fd(std::move(rd), "web");
        configure(opt, std::move(wr));
        std::error_code ec;
        std::string message;
        (void)tether::spawn(std::move(opt), ec, message);
        EXPECT_EQ(ec, tether::errc::invalid_argument) << message;
        EXPECT_TRUE(contains(message, expect)) << message;
    };
    clash([](tether::spawn_options& o, tether::unique_handle&&) { o.env_set["LISTEN_FDS"] = "1"; }, "env_set sets LISTEN_FDS");
    clash([](tether::spawn_options& o, tether::unique_handle&&) { o.env_set["LISTEN_PID"] = "1"; }, "env_set sets LISTEN_PID");
    clash([](tether::spawn_options& o, tether::unique_handle&& h) { o.pass_at(3, std::move(h), "other"); },
          "child descriptor 3 is taken by socket activation");
    clash([](tether::spawn_options& o, tether::unique_handle&& h) { o.pass_listen_fd(std::move(h), "web"); },
          "the name is used twice");
}

// The child's side: variables addressed to us but malformed, or naming a descriptor that is
// not open, are an error naming the variable and its value. `exec` keeps the shell's pid, so
// LISTEN_PID=$$ addresses the tether program.
TETHER_CHILD_ROLE(listen_take) {
    try {
        (void)tether::inherited(args.at(0));
        std::printf("taken\n");
    } catch (const std::system_error& e) {
        std::printf("%s\n", e.what());
    }
    return 0;
}

TEST(SocketActivation, BadInputOnTheChildSideNamesTheVariable) {
    auto role = tether_test::role_options("listen_take", {"web"});
    auto run = [&role](const std::string& vars) {
        return tether_test::output_of(with_stdout({"/bin/sh", "-c", vars + " exec \"$0\" \"$@\"", role.argv[0], role.argv[1],
                                                   role.argv[2], role.argv[3]}));
    };
    auto garbage = run("LISTEN_PID=$$ LISTEN_FDS=abc LISTEN_FDNAMES=web");
    EXPECT_TRUE(contains(garbage, "LISTEN_FDS='abc' is not a count")) << garbage;
    auto closed = run("LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web");  // nothing open at 3
    EXPECT_TRUE(contains(closed, "LISTEN_FDS='1': descriptor 3 ('web') is not open")) << closed;
    auto twice = run("LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=web:web");
    EXPECT_TRUE(contains(twice, "gives a name twice")) << twice;
    auto other = run("LISTEN_PID=1 LISTEN_FDS=abc LISTEN_FDNAMES=web");
    EXPECT_TRUE(contains(other, "no TETHER_HANDLES (nor LISTEN_FDS)")) << "another process's variables are ignored: " << other;
}
