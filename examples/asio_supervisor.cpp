// One asio::io_context supervising several children with tether (include/tether/asio.hpp):
// it awaits each child's exit, reads one child's stdout through an asio::readable_pipe and
// talks to a worker over a channel — nothing blocks, no release() anywhere, and every
// descriptor has one owner (see docs/asio.md).
//
//   asio_supervisor      starts itself in the child roles below, prints a report at the end.
//
// Roles (this same program, started with a flag): --exit N (exits with N), --sleep (waits for
// its stdin to end; the supervisor kills it instead), --print N (prints N lines), --worker
// (echoes each message over the "control" channel until "bye", then says goodbye).
#include <tether/asio.hpp>
#include <tether/tether.hpp>

#include <iostream>
#include <list>
#include <map>
#include <string>

namespace {

tether::spawn_options role(std::vector<std::string> args) {
    tether::spawn_options opt;
    opt.argv = {tether::current_executable_path()};
    opt.argv.insert(opt.argv.end(), args.begin(), args.end());
    return opt;
}

int worker() {
    auto ctl = tether::channel::inherited("control");
    for (;;) {
        auto m = ctl.receive();
        if (!m.is_data() || m.text() == "bye") break;
        ctl.send("echo: " + std::string(m.text()));
    }
    ctl.close();  // goodbye: the supervisor knows we ended on purpose
    return 0;
}

int child_role(const std::string& mode, const std::string& arg) {
    if (mode == "--exit") return std::stoi(arg);
    if (mode == "--print") {
        for (int i = 1; i <= std::stoi(arg); ++i) std::cout << "line " << i << "\n";
        return 0;
    }
    if (mode == "--sleep") return static_cast<int>(tether::read_to_end(tether::borrowed_handle(0)).size());
    if (mode == "--worker") return worker();
    std::cerr << "asio_supervisor: unknown role " << mode << "\n";
    return 2;
}

// The supervisor's state. Children live in a std::list: an operation borrows its child, which
// must stay in place until the handler ran. The io_context is declared last, so it is
// destroyed first: operations still pending then are dropped before what they borrow.
struct supervisor {
    std::list<std::pair<std::string, tether::child>> kids;
    std::map<std::string, std::string> report;
    std::string printed;
    std::vector<std::string> replies;
    tether::channel ctl;
    asio::io_context io;
    asio::any_io_executor ex = io.get_executor();

    void await_exit(const std::string& name, tether::spawn_options opt) {
        auto& [n, kid] = kids.emplace_back(name, tether::spawn(std::move(opt)));
        tether::async_wait_exit(ex, kid, [this, n = n](std::error_code ec, tether::exit_status st) {
            report[n] = ec ? "wait failed: " + ec.message() : st.describe();
        });
    }

    void start_printer() {
        auto opt = role({"--print", "3"});
        opt.out = tether::stdio::pipe();
        await_exit("printer", std::move(opt));
        // The pipe end moves into Asio: it closes it, tether no longer holds it.
        auto out = std::make_shared<asio::readable_pipe>(tether::asio_pipe::readable(ex, kids.back().second.take_stdout()));
        asio::async_read(*out, asio::dynamic_buffer(printed), [this, out](std::error_code ec, std::size_t) {
            if (ec != asio::error::eof) report["printer output"] = "read failed: " + ec.message();
        });
    }

    void start_worker() {
        auto [ours, theirs] = tether::make_channel();
        ctl = std::move(ours);
        auto opt = role({"--worker"});
        opt.pass(std::move(theirs), "control");
        await_exit("worker", std::move(opt));
        for (auto text : {"ping 1", "ping 2", "bye"})
            tether::async_send(ex, ctl, text, [this](std::error_code ec) {
                if (ec) report["worker send"] = ec.message();
            });
        receive_next();
    }

    void receive_next() {
        tether::async_receive(ex, ctl, [this](std::error_code ec, tether::message m) {
            if (ec) {
                replies.push_back("receive failed: " + ec.message());
                return;
            }
            replies.push_back(m.is_data() ? std::string(m.text()) : m.describe());
            if (m.is_data()) receive_next();  // goodbye / vanished end the conversation
        });
    }

    int run() {
        await_exit("exit-0", role({"--exit", "0"}));
        await_exit("exit-3", role({"--exit", "3"}));
        auto sleeper = role({"--sleep"});
        sleeper.in = tether::stdio::pipe();
        await_exit("sleeper", std::move(sleeper));
        kids.back().second.kill();
        start_printer();
        start_worker();
        io.run_for(std::chrono::seconds(60));  // bounded: a hang is a failure, not a stall
        return print_report();
    }

    int print_report() {
        int lines = 0;
        for (char c : printed) lines += c == '\n';
        for (auto name : {"exit-0", "exit-3", "sleeper"}) std::cout << name << ": " << report[name] << "\n";
        std::cout << "printer said " << lines << " lines\n";
        std::cout << "printer: " << report["printer"] << "\n";
        for (auto& r : replies) std::cout << "worker: " << r << "\n";
        std::cout << "worker: " << report["worker"] << "\n";
        bool ok = report.size() == 5 && lines == 3 && replies.size() == 3 && replies.back() == "goodbye";
        std::cout << (ok ? "all done\n" : "incomplete\n");
        return ok ? 0 : 1;
    }
};

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc > 1) return child_role(argv[1], argc > 2 ? argv[2] : "");
        supervisor s;
        return s.run();
    } catch (const std::exception& e) {
        std::cerr << "asio_supervisor: " << e.what() << "\n";
        return 2;
    }
}
