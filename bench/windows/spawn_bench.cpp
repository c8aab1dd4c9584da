// Windows: spawn-and-wait of a trivial program, tether::spawn + child::wait against raw
// CreateProcessW + WaitForSingleObject, interleaved in one run (spawn by spawn, alternating which
// goes first) so that both see the same machine load. Two cases:
//   inherit: the child inherits our std handles (tether: direct when they are inheritable here,
//            else through the long-lived vault); raw: CreateProcessW(bInheritHandles=FALSE).
//   pipe:    the child's stdout is a new pipe read to end-of-file (tether: through the vault);
//            raw: CreatePipe with an inheritable write end, STARTF_USESTDHANDLES, a handle list.
// Prints the median of each and the ratio (target <= 1.25).
//
// usage: spawn_bench_windows [spawns [program]]   (defaults: 100, bench_true.exe beside us)
#include <tether/tether.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include <windows.h>
#include <winternl.h>

namespace {

using clock_type = std::chrono::steady_clock;

double millis(clock_type::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::wstring widen(const std::string& s) {
    std::wstring w(s.size(), L'\0');
    int n = ::MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), w.data(), static_cast<int>(w.size()));
    w.resize(static_cast<std::size_t>(n));
    return w;
}

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "%s failed: %lu\n", what, ::GetLastError());
    std::exit(1);
}

void wait_and_close(PROCESS_INFORMATION& pi) {
    ::WaitForSingleObject(pi.hProcess, INFINITE);
    ::CloseHandle(pi.hThread);
    ::CloseHandle(pi.hProcess);
}

double raw_inherit(const std::wstring& program) {
    auto t0 = clock_type::now();
    std::wstring cmd = L"\"" + program + L"\"";
    STARTUPINFOW si{};
    si.cb = sizeof si;
    PROCESS_INFORMATION pi{};
    if (!::CreateProcessW(program.c_str(), cmd.data(), nullptr, nullptr, FALSE, 0, nullptr, nullptr, &si, &pi))
        die("CreateProcessW");
    wait_and_close(pi);
    return millis(clock_type::now() - t0);
}

// What a careful raw caller writes for a captured stdout: an inheritable write end listed alone.
double raw_pipe(const std::wstring& program) {
    auto t0 = clock_type::now();
    SECURITY_ATTRIBUTES sa{sizeof sa, nullptr, TRUE};
    HANDLE r = nullptr, w = nullptr;
    if (!::CreatePipe(&r, &w, &sa, 0)) die("CreatePipe");
    ::SetHandleInformation(r, HANDLE_FLAG_INHERIT, 0);
    SIZE_T size = 0;
    ::InitializeProcThreadAttributeList(nullptr, 1, 0, &size);
    std::vector<unsigned char> buf(size);
    auto* list = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(buf.data());
    if (!::InitializeProcThreadAttributeList(list, 1, 0, &size) ||
        !::UpdateProcThreadAttribute(list, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, &w, sizeof w, nullptr, nullptr))
        die("attribute list");
    STARTUPINFOEXW si{};
    si.StartupInfo.cb = sizeof si;
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdOutput = w;
    si.lpAttributeList = list;
    std::wstring cmd = L"\"" + program + L"\"";
    PROCESS_INFORMATION pi{};
    if (!::CreateProcessW(program.c_str(), cmd.data(), nullptr, nullptr, TRUE, EXTENDED_STARTUPINFO_PRESENT, nullptr,
                          nullptr, &si.StartupInfo, &pi))
        die("CreateProcessW");
    ::DeleteProcThreadAttributeList(list);
    ::CloseHandle(w);
    char b[256];
    DWORD n = 0;
    while (::ReadFile(r, b, sizeof b, &n, nullptr) && n > 0) {
    }
    ::CloseHandle(r);
    wait_and_close(pi);
    return millis(clock_type::now() - t0);
}

double tether_once(const std::string& program, bool pipe) {
    auto t0 = clock_type::now();
    tether::spawn_options opt;
    opt.argv = {program};
    if (pipe) opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    if (pipe) (void)tether::take_stdout_text(c);
    if (!c.wait().success()) {
        std::fprintf(stderr, "%s failed\n", program.c_str());
        std::exit(1);
    }
    return millis(clock_type::now() - t0);
}

// Whether tether's child of this case was created by us (direct) or through the vault.
const char* route(const std::string& program, bool pipe) {
    tether::spawn_options opt;
    opt.argv = {program};
    if (pipe) opt.out = tether::stdio::pipe();
    auto c = tether::spawn(std::move(opt));
    PROCESS_BASIC_INFORMATION info{};
    ULONG len = 0;
    bool direct = ::NtQueryInformationProcess(c.process_handle().get(), ProcessBasicInformation, &info, sizeof info,
                                              &len) == 0 &&
                  info.InheritedFromUniqueProcessId == ::GetCurrentProcessId();
    if (pipe) (void)tether::take_stdout_text(c);
    (void)c.wait();
    return direct ? "direct, we are the parent" : "through the handle vault";
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    auto n = v.size();
    return n % 2 != 0 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void run_case(const char* name, int spawns, const std::string& program, bool pipe) {
    std::wstring wprogram = widen(program);
    auto raw_once = [&] { return pipe ? raw_pipe(wprogram) : raw_inherit(wprogram); };
    for (int i = 0; i < 5; ++i) {  // warm up; the first tether spawn through a vault creates it
        raw_once();
        tether_once(program, pipe);
    }
    std::vector<double> raw, teth;
    for (int i = 0; i < spawns; ++i) {
        if (i % 2 == 0) {
            raw.push_back(raw_once());
            teth.push_back(tether_once(program, pipe));
        } else {
            teth.push_back(tether_once(program, pipe));
            raw.push_back(raw_once());
        }
    }
    double m_raw = median(raw), m_tether = median(teth);
    std::printf("%-8s raw median %7.2f ms   tether median %7.2f ms   ratio %.3f  (target <= 1.25; tether: %s)\n",
                name, m_raw, m_tether, m_tether / m_raw, route(program, pipe));
}

}  // namespace

int main(int argc, char** argv) {
    int spawns = argc > 1 ? std::atoi(argv[1]) : 100;
    std::string program;
    if (argc > 2) {
        program = argv[2];
    } else {
        program = tether::current_executable_path();
        program = program.substr(0, program.find_last_of("\\/") + 1) + "bench_true.exe";
    }
    if (spawns <= 0) {
        std::fprintf(stderr, "usage: spawn_bench_windows [spawns [program]]\n");
        return 2;
    }
    std::printf("spawn+wait %s, %d spawns of each per case, interleaved\n", program.c_str(), spawns);
    run_case("inherit", spawns, program, false);
    run_case("pipe", spawns, program, true);
    return 0;
}
