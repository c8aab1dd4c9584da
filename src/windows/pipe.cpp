// Windows backend: anonymous pipes, non-inheritable from birth, and what a handle value names
// (backend.hpp, section 2; make_pipe and the checks of handle strings are src/pipe_common.cpp's).
//
// An "anonymous" pipe here is a named pipe with an unguessable name (as libuv and Python's
// multiprocessing make theirs): our end is the server, opened FILE_FLAG_OVERLAPPED so that
// read_for/write_all_for can time out with CancelIoEx; the child's end is the client, opened
// for synchronous I/O, so to the child (and to .NET's AnonymousPipeClientStream) it behaves
// exactly like an end from CreatePipe. Both are created with bInheritHandle=FALSE.
#include <tether/error.hpp>
#include <tether/pipe.hpp>

#include "detail/manifest.hpp"
#include "detail/backend.hpp"
#include "testing/switches.hpp"
#include "windows/win.hpp"

#include <atomic>
#include <bcrypt.h>
#include <cstdio>
#include <memory>
#include <sddl.h>
#include <string>
#include <vector>
#include <winternl.h>

namespace tether::detail {
namespace {

const char* file_kind(DWORD type) {
    switch (type) {
        case FILE_TYPE_DISK: return "a disk file or directory";
        case FILE_TYPE_CHAR: return "a character device (console, NUL, ...)";
        case FILE_TYPE_REMOTE: return "a remote file";
        default: return "not a file (a process, thread, event, ...?)";
    }
}

}  // namespace

pipe_pair pipe_create(direction d, std::size_t capacity, std::error_code& ec, std::string& what) {
    bool server_reads = d == direction::in;  // the server is our end
    // Advisory, as CreatePipe's nSize: the system may round it. 0 would not mean "the default"
    // for a named pipe: wine makes writes wait for the reader then. 64 KiB is Linux's default
    // pipe capacity.
    DWORD size = capacity == 0 ? 65536 : capacity > (1u << 30) ? (1u << 30) : static_cast<DWORD>(capacity);
    pipe_instance_spec spec;
    spec.server_mode = (server_reads ? PIPE_ACCESS_INBOUND : PIPE_ACCESS_OUTBOUND) | FILE_FLAG_OVERLAPPED;
    spec.pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE;
    spec.buffer_size = size;
    // The client's rights match CreatePipe's ends, so direction checks see the same thing.
    spec.client_access = server_reads ? GENERIC_WRITE | FILE_READ_ATTRIBUTES : GENERIC_READ | FILE_WRITE_ATTRIBUTES;
    auto p = create_pipe_instance(spec, ec);
    if (ec) {
        what = p.failed != nullptr ? std::string("create a new pipe: ") + p.failed : "create a new pipe";
        return {};
    }
    return {std::move(p.server), std::move(p.client)};
}

std::size_t pipe_query_capacity(native_handle h, std::error_code& ec) noexcept {
    DWORD flags = 0, out_size = 0, in_size = 0;
    if (::GetNamedPipeInfo(h, &flags, &out_size, &in_size, nullptr) == 0) {
        ec = last_system_error();
        return 0;
    }
    ec.clear();
    // Our side's buffer: what we read arrives through the input buffer, what we write leaves
    // through the output one; a pipe created by one of our functions has both the same.
    return in_size > out_size ? in_size : out_size;
}

bool query_pipe_local(HANDLE pipe, pipe_local_information& out) noexcept {
    IO_STATUS_BLOCK io{};
    constexpr auto file_pipe_local_information = static_cast<FILE_INFORMATION_CLASS>(24);
    return ::NtQueryInformationFile(pipe, &io, &out, sizeof out, file_pipe_local_information) == 0;
}

bool pipe_peer_open(native_handle h) noexcept {
    // A query on a synchronous handle waits for its file object's lock, held by any thread
    // blocked in a read of it (Windows serialises synchronous I/O per file object): no answer
    // is better than a hang. The tied reads only ever ask about overlapped ends.
    if (is_synchronous_handle(h)) return true;
    constexpr ULONG file_pipe_closing_state = 4;
    pipe_local_information info{};
    return !query_pipe_local(h, info) || info.state != file_pipe_closing_state;
}

std::error_code pipe_check_end(native_handle h, direction d) noexcept {
    DWORD flags = 0;
    if (!::GetHandleInformation(h, &flags)) return errc::invalid_handle_string;
    if (::GetFileType(h) != FILE_TYPE_PIPE) return errc::not_a_pipe;
    // The direction from the rights the handle holds; where the query is unavailable the
    // check is skipped rather than guessed (a zero-byte write would be a wrong probe).
    ACCESS_MASK access = 0;
    if (granted_access(h, access)) {
        bool ok = d == direction::in ? (access & FILE_READ_DATA) != 0
                                     : (access & (FILE_WRITE_DATA | FILE_APPEND_DATA)) != 0;
        if (!ok) return errc::wrong_direction;
    }
    return {};
}

namespace {
// BCryptGenRandom, or the status a test asked for (then `buf` is left as it was).
NTSTATUS gen_random(void* buf, ULONG size) {
    if (long status = test_switches::pipe_random_failure(); status != 0) return status;
    return ::BCryptGenRandom(nullptr, static_cast<PUCHAR>(buf), size, BCRYPT_USE_SYSTEM_PREFERRED_RNG);
}
}  // namespace

// 128 random bits: another process cannot guess the name and connect (or squat) before us.
// Without them the name would be predictable, so a failing random source fails the call.
std::wstring unique_pipe_name(const wchar_t* kind, std::error_code& ec) {
    static std::atomic<unsigned long long> counter{0};
    unsigned long long r[2] = {0, 0};
    if (NTSTATUS status = gen_random(r, sizeof r); status != 0) {
        ec = win_error(::RtlNtStatusToDosError(status));
        return {};
    }
    wchar_t name[128];
    std::swprintf(name, 128, L"\\\\.\\pipe\\tether-%ls%lu-%llu-%016llx%016llx", kind, ::GetCurrentProcessId(),
                  counter.fetch_add(1), r[0], r[1]);
    ec.clear();
    return name;
}

namespace {

// The user SID of our process token, as SDDL text ("S-1-5-21-..."); empty on failure.
std::wstring token_user_sid() {
    HANDLE raw = nullptr;
    if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &raw)) return {};
    unique_handle token(raw);
    DWORD need = 0;
    ::GetTokenInformation(token.get(), TokenUser, nullptr, 0, &need);
    std::vector<unsigned char> buf(need);
    if (need == 0 || !::GetTokenInformation(token.get(), TokenUser, buf.data(), need, &need)) return {};
    LPWSTR text = nullptr;
    if (!::ConvertSidToStringSidW(reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid, &text)) return {};
    std::wstring sid(text);
    ::LocalFree(text);
    return sid;
}

struct local_free {
    void operator()(void* p) const noexcept { ::LocalFree(p); }
};

// An instance squatted by someone else: FILE_FLAG_FIRST_PIPE_INSTANCE refuses the name
// (ERROR_ACCESS_DENIED), or all instances of it are taken (ERROR_PIPE_BUSY).
bool name_taken(DWORD err) noexcept { return err == ERROR_ACCESS_DENIED || err == ERROR_PIPE_BUSY; }

}  // namespace

PSECURITY_DESCRIPTOR owner_only_security(std::error_code& ec) {
    // Built once for the process, kept until it exits (the user never changes). Protected
    // ("P"): nothing is inherited from a parent object's DACL; one ACE: GENERIC_ALL for us.
    static const std::unique_ptr<void, local_free> sd = []() -> std::unique_ptr<void, local_free> {
        auto sid = token_user_sid();
        if (sid.empty()) return nullptr;
        std::wstring sddl = L"D:P(A;;GA;;;" + sid + L")";
        PSECURITY_DESCRIPTOR out = nullptr;
        if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1, &out, nullptr))
            return nullptr;
        return std::unique_ptr<void, local_free>(out);
    }();
    ec.clear();
    if (!sd) ec = errc::not_supported;
    return sd.get();
}

pipe_instance create_pipe_instance(const pipe_instance_spec& spec, std::error_code& ec) {
    PSECURITY_DESCRIPTOR sd = owner_only_security(ec);
    if (ec) return {};
    SECURITY_ATTRIBUTES server_sa{sizeof server_sa, sd, FALSE};  // never inheritable
    SECURITY_ATTRIBUTES client_sa{sizeof client_sa, nullptr, FALSE};
    const DWORD open_mode = spec.server_mode | FILE_FLAG_FIRST_PIPE_INSTANCE;
    const DWORD pipe_mode = spec.pipe_mode | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS;
    // The name is unguessable, so a second collision means something is badly wrong: give up
    // after a few names rather than loop.
    const std::wstring planted = test_switches::take_planted_pipe_name();  // a test's squatter
    for (int attempt = 0; attempt < 4; ++attempt) {
        pipe_instance p;
        p.name = attempt == 0 && !planted.empty() ? planted : unique_pipe_name(spec.kind, ec);
        if (ec) {
            p.failed = "BCryptGenRandom (the random part of the pipe's name)";
            return p;
        }
        p.server.reset(::CreateNamedPipeW(p.name.c_str(), open_mode, pipe_mode, 1, spec.buffer_size,
                                          spec.buffer_size, 0, &server_sa));
        if (!p.server) {
            DWORD err = ::GetLastError();
            if (name_taken(err)) continue;
            ec = win_error(err);
            return {};
        }
        p.client.reset(::CreateFileW(p.name.c_str(), spec.client_access, 0, &client_sa, OPEN_EXISTING,
                                     spec.client_flags, nullptr));
        if (!p.client) {
            ec = last_os_error();
            return {};
        }
        ULONG pid = 0;
        if (::GetNamedPipeClientProcessId(p.server.get(), &pid) && pid != ::GetCurrentProcessId()) {
            ec = errc::not_a_pipe;  // another process connected to our new instance first
            return {};
        }
        ec.clear();
        return p;
    }
    ec = win_error(ERROR_ACCESS_DENIED);  // every name we tried was taken
    return {};
}

std::string why_not_a_pipe(std::error_code ec, std::string_view handle_string) {
    auto value = parse_handle_value(handle_string);
    if (ec == errc::invalid_handle_string && !value) return ": not a decimal handle value";
    if (ec == errc::invalid_handle_string)
        return ": handle " + std::string(handle_string) + " is not open in this process";
    if (ec == errc::not_a_pipe) return std::string(": the handle is ") + file_kind(::GetFileType(*value));
    return {};
}

}  // namespace tether::detail
