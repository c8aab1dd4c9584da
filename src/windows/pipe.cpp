// Windows backend: anonymous pipes, non-inheritable from birth, and validation of handle strings.
//
// An "anonymous" pipe here is a named pipe with an unguessable name (as libuv and Python's
// multiprocessing make theirs): our end is the server, opened FILE_FLAG_OVERLAPPED so that
// read_for/write_all_for can time out with CancelIoEx; the child's end is the client, opened
// for synchronous I/O, so to the child (and to .NET's AnonymousPipeClientStream) it behaves
// exactly like an end from CreatePipe. Both are created with bInheritHandle=FALSE.
#include <tether/error.hpp>
#include <tether/pipe.hpp>

#include "detail/manifest.hpp"
#include "detail/os.hpp"
#include "windows/win.hpp"

#include <atomic>
#include <bcrypt.h>
#include <cstdio>

namespace tether {
namespace {

struct server_client {
    unique_handle server;  ///< overlapped
    unique_handle client;  ///< synchronous
};

// `server_reads`: the server is the read end (PIPE_ACCESS_INBOUND), the client the write end.
server_client create_pipe(bool server_reads, DWORD size) {
    // 0 would not mean "the default" for a named pipe: wine makes writes wait for the reader then.
    // 64 KiB is Linux's default pipe capacity.
    if (size == 0) size = 65536;
    SECURITY_ATTRIBUTES sa{sizeof sa, nullptr, FALSE};  // never inheritable
    std::wstring name = detail::unique_pipe_name(L"");
    DWORD open_mode = (server_reads ? PIPE_ACCESS_INBOUND : PIPE_ACCESS_OUTBOUND) | FILE_FLAG_OVERLAPPED |
                      FILE_FLAG_FIRST_PIPE_INSTANCE;
    DWORD pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS;
    unique_handle server(::CreateNamedPipeW(name.c_str(), open_mode, pipe_mode, 1, size, size, 0, &sa));
    if (!server) throw_error(last_os_error(), "CreateNamedPipeW for a new pipe");
    // The client's rights match CreatePipe's ends, so direction checks see the same thing.
    DWORD access = server_reads ? GENERIC_WRITE | FILE_READ_ATTRIBUTES : GENERIC_READ | FILE_WRITE_ATTRIBUTES;
    unique_handle client(::CreateFileW(name.c_str(), access, 0, &sa, OPEN_EXISTING, 0, nullptr));
    if (!client) throw_error(last_os_error(), "open the client end of a new pipe");
    ULONG pid = 0;
    if (::GetNamedPipeClientProcessId(server.get(), &pid) && pid != ::GetCurrentProcessId())
        throw_error(errc::not_a_pipe, "new pipe: another process connected to it first");
    return {std::move(server), std::move(client)};
}

const char* file_kind(DWORD type) {
    switch (type) {
        case FILE_TYPE_DISK: return "a disk file or directory";
        case FILE_TYPE_CHAR: return "a character device (console, NUL, ...)";
        case FILE_TYPE_REMOTE: return "a remote file";
        default: return "not a file (a process, thread, event, ...?)";
    }
}

}  // namespace

pipe_ends make_pipe() {
    auto p = create_pipe(true, 0);
    return {std::move(p.server), std::move(p.client)};
}

pipe_pair make_pipe(direction d) {
    auto p = create_pipe(d == direction::in, 0);
    return {std::move(p.server), std::move(p.client)};
}

pipe_server::pipe_server(direction d, std::size_t buffer_size) : dir_(d) {
    // Advisory, as CreatePipe's nSize: the system may round it.
    DWORD size = buffer_size > (1u << 30) ? (1u << 30) : static_cast<DWORD>(buffer_size);
    auto p = create_pipe(d == direction::in, size);
    ours_ = std::move(p.server);
    client_ = std::move(p.client);
}

std::error_code check_pipe_handle_string(direction d, std::string_view handle_string,
                                         native_handle& out) noexcept {
    auto value = detail::parse_handle_value(handle_string);
    if (!value || !is_valid_native(*value)) return errc::invalid_handle_string;
    DWORD flags = 0;
    if (!::GetHandleInformation(*value, &flags)) return errc::invalid_handle_string;
    if (::GetFileType(*value) != FILE_TYPE_PIPE) return errc::not_a_pipe;
    // The direction from the rights the handle holds; where the query is unavailable the
    // check is skipped rather than guessed (a zero-byte write would be a wrong probe).
    ACCESS_MASK access = 0;
    if (detail::granted_access(*value, access)) {
        bool ok = d == direction::in ? (access & FILE_READ_DATA) != 0
                                     : (access & (FILE_WRITE_DATA | FILE_APPEND_DATA)) != 0;
        if (!ok) return errc::wrong_direction;
    }
    out = *value;
    return {};
}

namespace detail {

// 128 random bits: another process cannot guess the name and connect (or squat) before us.
std::wstring unique_pipe_name(const wchar_t* kind) {
    static std::atomic<unsigned long long> counter{0};
    unsigned long long r[2] = {0, 0};
    ::BCryptGenRandom(nullptr, reinterpret_cast<PUCHAR>(r), sizeof r, BCRYPT_USE_SYSTEM_PREFERRED_RNG);
    wchar_t name[128];
    std::swprintf(name, 128, L"\\\\.\\pipe\\tether-%ls%lu-%llu-%016llx%016llx", kind, ::GetCurrentProcessId(),
                  counter.fetch_add(1), r[0], r[1]);
    return name;
}

std::string why_not_a_pipe(std::error_code ec, std::string_view handle_string) {
    auto value = parse_handle_value(handle_string);
    if (ec == errc::invalid_handle_string && !value) return ": not a decimal handle value";
    if (ec == errc::invalid_handle_string)
        return ": handle " + std::string(handle_string) + " is not open in this process";
    if (ec == errc::not_a_pipe) return std::string(": the handle is ") + file_kind(::GetFileType(*value));
    return {};
}

}  // namespace detail

}  // namespace tether
