// A pool of workers supervised from one thread with tether::poller.
//
//   pool [--kill]     starts 4 workers (this program with "--worker"), hands out 1,000 jobs
//                     round-robin with post() (never blocks the loop), collects the results
//                     from the poller's message events, and prints how each worker ended.
//                     With --kill, worker 2 is killed half-way: the loop sees "vanished" with
//                     the exit status, starts a new worker and hands it the lost jobs.
//
// Portable: the same code runs on Linux (epoll over pidfds) and Windows (a completion port).
#include <tether/tether.hpp>

#include <cstring>
#include <iostream>
#include <set>
#include <string>
#include <vector>

namespace {

constexpr int worker_count = 4;
constexpr int job_count = 1000;

int worker() {
    auto ctl = tether::channel::inherited("control");
    for (;;) {
        auto job = ctl.receive();
        if (!job.is_data()) break;  // goodbye from the pool: we are done
        auto n = std::stoi(std::string(job.text()));
        ctl.send_more(std::to_string(n) + " squared is " + std::to_string(n * n));  // written by the next receive
    }
    ctl.close();
    return 0;
}

struct worker_slot {
    tether::channel ctl;
    tether::child process;
    std::set<int> outstanding;  // jobs handed out and not answered yet
};

void start(tether::poller& loop, std::vector<worker_slot>& pool, std::size_t w) {
    auto [ours, theirs] = tether::make_channel();
    tether::spawn_options opt;
    opt.argv = {tether::current_executable_path(), "--worker"};
    opt.pass(std::move(theirs), "control");
    pool[w].ctl = std::move(ours);
    pool[w].process = tether::spawn(std::move(opt));
    loop.add(pool[w].ctl, pool[w].process, w);  // vanished will carry the exit status
}

void hand_out(worker_slot& w, int job) {
    std::error_code ec;
    w.ctl.post(std::to_string(job), ec);  // queued; the poller writes it as the socket drains
    w.outstanding.insert(job);            // a worker that died meanwhile gets it back below
}

int pool_main(bool kill_one) {
    tether::poller loop;
    std::vector<worker_slot> pool(worker_count);
    for (std::size_t w = 0; w < pool.size(); ++w) start(loop, pool, w);
    for (int job = 0; job < job_count; ++job) hand_out(pool[static_cast<std::size_t>(job) % pool.size()], job);

    int answered = 0;
    bool killed = false, restarted = false;
    std::vector<tether::poll_event> events;
    while (answered < job_count || killed != restarted) {
        if (kill_one && !killed && answered >= job_count / 2) {
            pool[2].process.kill();
            killed = true;
        }
        if (loop.wait(events, std::chrono::seconds(30)) == 0) {
            std::cerr << "pool: no progress in 30 s\n";
            return 1;
        }
        for (auto& e : events) {
            auto& w = pool[e.token];
            if (e.what == tether::poll_event::kind::message) {
                w.outstanding.erase(std::stoi(std::string(e.msg.text())));
                ++answered;
            } else if (e.what == tether::poll_event::kind::vanished) {
                std::cout << "worker " << e.token << " " << e.msg.describe() << "; restarting it\n";
                auto lost = std::move(w.outstanding);
                w.outstanding.clear();
                start(loop, pool, e.token);
                restarted = true;
                for (int job : lost) hand_out(w, job);
            } else {
                std::cerr << "pool: " << e.describe() << "\n";
                return 1;
            }
        }
    }
    std::cout << "pool: " << answered << " jobs answered\n";
    for (std::size_t w = 0; w < pool.size(); ++w) {
        pool[w].ctl.close();  // goodbye
        std::cout << "worker " << w << " " << pool[w].process.wait().describe() << "\n";
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "--worker") == 0) return worker();
    return pool_main(argc > 1 && std::strcmp(argv[1], "--kill") == 0);
}
