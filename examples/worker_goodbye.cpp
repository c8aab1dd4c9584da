// A parent and a worker talking over a tether channel and saying goodbye.
//
//   worker_goodbye            parent: starts itself as the worker, sends three jobs, prints
//                             the replies and how the worker ended ("goodbye").
//   worker_goodbye --crash    the worker aborts after the second job: the parent prints
//                             "vanished: killed by signal 6 (SIGABRT)" instead.
//
// The worker is this same program started with "--worker": no second executable to ship.
#include <tether/tether.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

namespace {

int worker(bool crash) {
    auto ctl = tether::channel::inherited("control");  // passed by the parent under this name
    int done = 0;
    for (;;) {
        auto msg = ctl.receive();
        if (!msg.is_data()) return 1;               // the parent went away first
        if (msg.text() == "that's all") break;
        if (crash && done == 2) std::abort();       // a bug, for the demonstration
        ctl.send("done: " + std::string(msg.text()));
        ++done;
    }
    ctl.close();  // goodbye: the parent knows we finished on purpose
    return 0;
}

int parent(bool crash) {
    auto [ctl, theirs] = tether::make_channel();
    tether::spawn_options opt;
    opt.argv = {tether::current_executable_path(), "--worker"};
    if (crash) opt.argv.push_back("--crash");
    opt.pass(std::move(theirs), "control");  // our copy of the worker's end is closed by spawn
    auto worker_process = tether::spawn(std::move(opt));

    for (int i = 1; i <= 3; ++i) ctl.send_more("job " + std::to_string(i));
    ctl.send("that's all");  // send() also writes the three queued jobs
    for (;;) {
        auto msg = ctl.receive(worker_process);  // joined with the child: vanished says how
        if (!msg.is_data()) {
            std::cout << "worker: " << msg.describe() << "\n";
            break;
        }
        std::cout << "worker says: " << msg.text() << "\n";
    }
    auto status = worker_process.wait();
    std::cout << "worker " << status.describe() << "\n";
    return status.success() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    bool crash = (argc > 1 && std::string(argv[argc - 1]) == "--crash");
    try {
        if (mode == "--worker") return worker(crash);
        return parent(crash);
    } catch (const std::exception& e) {
        std::cerr << "worker_goodbye: " << e.what() << "\n";
        return 2;
    }
}
