// Passing an open file to a worker that is already running (Linux: SCM_RIGHTS).
//
//   pass_file FILE...     starts a worker, then for each FILE opens it here and sends the
//                         open descriptor; the worker reads it (it never sees the path, and
//                         needs no permission to open it) and answers with its size in bytes.
//
// Ownership: send_handle() takes the handle by rvalue; our copy is closed once it is sent, and
// the worker's copy is closed when its message goes out of scope. Nothing leaks either side.
#include <tether/tether.hpp>

#include <array>
#include <cerrno>
#include <fcntl.h>
#include <iostream>
#include <string>
#include <system_error>

namespace {

int worker() {
    auto ctl = tether::channel::inherited("control");
    for (;;) {
        auto msg = ctl.receive();
        if (!msg.is_data()) return msg.is_goodbye() ? 0 : 1;
        std::size_t total = 0;
        std::array<std::byte, 65536> buf{};
        for (const auto& file : msg.handles)
            while (auto n = tether::read(file, buf)) total += n;
        ctl.send(std::to_string(total));
    }  // the received descriptors are closed with each message
}

int parent(int argc, char** argv) {
    auto [ctl, theirs] = tether::make_channel();
    tether::spawn_options opt;
    opt.argv = {tether::current_executable_path(), "--worker"};
    opt.pass(std::move(theirs), "control");
    auto worker_process = tether::spawn(std::move(opt));
    for (int i = 1; i < argc; ++i) {
        // Opened close-on-exec like everything tether makes: only send_handle gives it away.
        tether::unique_handle file(::open(argv[i], O_RDONLY | O_CLOEXEC));
        if (!file) {
            std::cerr << "pass_file: " << argv[i] << ": " << std::system_category().message(errno) << "\n";
            continue;
        }
        ctl.send_handle(std::move(file));
        auto reply = ctl.receive(worker_process);
        if (!reply.is_data()) {
            std::cerr << "pass_file: worker " << reply.describe() << "\n";
            return 1;
        }
        std::cout << argv[i] << ": " << reply.text() << " bytes, read by the worker\n";
    }
    ctl.close();  // goodbye; the worker ends its loop
    return worker_process.wait().success() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc > 1 && std::string(argv[1]) == "--worker") return worker();
        if (argc < 2) {
            std::cerr << "usage: pass_file FILE...\n";
            return 2;
        }
        return parent(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "pass_file: " << e.what() << "\n";
        return 2;
    }
}
