// Windows backend: a pseudo console's creation, size and close (pseudo_console.hpp says how the
// pipes and the relay are arranged; the relay is console_relay.cpp's).
#include "windows/pseudo_console.hpp"

#include <tether/error.hpp>

#include "detail/backend.hpp"
#include "windows/child_handles.hpp"
#include "windows/win.hpp"

#include <utility>

namespace tether::detail {
namespace {

constexpr int max_console_cells = 32767;  // COORD's members are SHORTs

template <class Fn>
Fn kernel32_function(HMODULE k, const char* name) {
    return k == nullptr ? nullptr : reinterpret_cast<Fn>(reinterpret_cast<void*>(::GetProcAddress(k, name)));
}

// An HRESULT as an error_code: a Win32 error in it as that error, anything else as itself
// (system_category formats HRESULTs with FormatMessage as well).
std::error_code hresult_error(HRESULT hr) {
    if (HRESULT_FACILITY(hr) == FACILITY_WIN32) return win_error(HRESULT_CODE(hr));
    return {static_cast<int>(hr), std::system_category()};
}

COORD to_coord(console_size s) { return {static_cast<SHORT>(s.cols), static_cast<SHORT>(s.rows)}; }

// The user's output pipe: our read end as make_pipe(direction::in)'s (server, overlapped), the
// relay's write end overlapped too, so the relay can wait for a write beside other events.
std::error_code make_user_pipe(unique_handle& read_end, unique_handle& write_end, std::string& what) {
    pipe_instance_spec spec;
    spec.kind = L"con";
    spec.server_mode = PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED;
    spec.pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE;
    spec.buffer_size = 65536;
    spec.client_access = GENERIC_WRITE | FILE_READ_ATTRIBUTES;
    spec.client_flags = FILE_FLAG_OVERLAPPED;
    std::error_code ec;
    auto p = create_pipe_instance(spec, ec);
    if (ec) {
        what = std::string("create the terminal's output pipe") + (p.failed != nullptr ? ": " : "") +
               (p.failed != nullptr ? p.failed : "");
        return ec;
    }
    read_end = std::move(p.server);
    write_end = std::move(p.client);
    return {};
}

}  // namespace

const console_functions* console_api() noexcept {
    static const console_functions api = [] {
        HMODULE k = ::GetModuleHandleW(L"kernel32.dll");
        return console_functions{kernel32_function<decltype(console_functions::create)>(k, "CreatePseudoConsole"),
                                 kernel32_function<decltype(console_functions::resize)>(k, "ResizePseudoConsole"),
                                 kernel32_function<decltype(console_functions::close)>(k, "ClosePseudoConsole")};
    }();
    return api.create != nullptr && api.resize != nullptr && api.close != nullptr ? &api : nullptr;
}

std::error_code check_console_size(console_size s, std::string& what) {
    const char* bad = s.cols < 1 || s.cols > max_console_cells   ? "cols"
                      : s.rows < 1 || s.rows > max_console_cells ? "rows"
                                                                 : nullptr;
    if (bad == nullptr) return {};
    int value = bad[0] == 'c' ? s.cols : s.rows;
    what = std::string("pseudo console size: ") + bad + " " + std::to_string(value) + " is not in 1..32767";
    return errc::invalid_argument;
}

std::unique_ptr<pseudo_console> pseudo_console::create(console_size size, std::error_code& ec, std::string& what) {
    std::unique_ptr<pseudo_console> pc(new pseudo_console);
    ec = pc->open(size, what);
    if (ec) return nullptr;
    return pc;
}

// The pipes, the console, the relay. The two client ends are closed once CreatePseudoConsole
// returned: conhost holds its own copies, and ours would keep its output pipe open.
std::error_code pseudo_console::open(console_size size, std::string& what) {
    if (auto ec = check_console_size(size, what)) return ec;
    const console_functions* api = console_api();
    if (api == nullptr) {
        what = "pseudo consoles need Windows 10 1809 or later (kernel32 has no CreatePseudoConsole)";
        return errc::not_supported;
    }
    std::error_code ec;
    pipe_pair in = pipe_create(direction::out, 0, ec, what);
    pipe_pair out = ec ? pipe_pair{} : pipe_create(direction::in, 0, ec, what);
    if (ec || (ec = make_user_pipe(user_read_, user_write_, what))) return ec;
    control_.reset(::CreateEventW(nullptr, FALSE, FALSE, nullptr));
    ended_.reset(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
    if (!control_ || !ended_) {
        what = "CreateEventW";
        return last_os_error();
    }
    HRESULT hr = 0;
    {
        // CreatePseudoConsole makes the client ends inheritable for the length of the call:
        // none of tether's self copies is made meanwhile (child_handles.hpp).
        std::lock_guard lock(inheritable_window_mutex());
        hr = api->create(to_coord(size), in.theirs.get(), out.theirs.get(), 0, &hpc_);
    }
    if (FAILED(hr)) {
        what = "CreatePseudoConsole";
        return hresult_error(hr);
    }
    size_ = size;
    input_ = std::move(in.ours);
    console_out_ = std::move(out.ours);
    if (auto relay_ec = start_relay(what)) {
        // No relay, nothing written to the console yet but conhost's first output, which fits
        // in the pipe: ClosePseudoConsole returns without a reader.
        api->close(take_console());
        return relay_ec;
    }
    return {};
}

pseudo_console::~pseudo_console() { close(); }

console_handle pseudo_console::native() const noexcept {
    std::lock_guard lock(mutex_);
    return hpc_;
}

console_size pseudo_console::size() const noexcept {
    std::lock_guard lock(mutex_);
    return size_;
}

console_handle pseudo_console::take_console() noexcept {
    std::lock_guard lock(mutex_);
    return std::exchange(hpc_, nullptr);
}

std::error_code pseudo_console::resize(console_size size, std::string& what) noexcept {
    if (auto ec = check_console_size(size, what)) return ec;
    std::lock_guard lock(mutex_);  // the relay cannot close the console under the call
    if (hpc_ == nullptr) {
        what = "ResizePseudoConsole: the session has ended";
        return errc::closed;
    }
    HRESULT hr = console_api()->resize(hpc_, to_coord(size));
    if (hr == E_NOTIMPL) {
        what = "ResizePseudoConsole is not implemented on this system (E_NOTIMPL; wine 8 lacks it)";
        return errc::not_supported;
    }
    if (FAILED(hr)) {
        what = "ResizePseudoConsole";
        return hresult_error(hr);
    }
    size_ = size;
    return {};
}

std::error_code pseudo_console::watch(HANDLE process, std::string& what) noexcept {
    HANDLE copy = nullptr;
    if (!::DuplicateHandle(::GetCurrentProcess(), process, ::GetCurrentProcess(), &copy, SYNCHRONIZE, FALSE, 0)) {
        what = "duplicate the child's process handle for the pseudo console";
        return last_os_error();
    }
    {
        std::lock_guard lock(mutex_);
        if (process_) {
            ::CloseHandle(copy);
            what = "the pseudo console watches a child already";
            return errc::invalid_argument;
        }
        process_.reset(copy);
    }
    ::SetEvent(control_.get());  // the relay adds the child to what it waits for
    return {};
}

bool pseudo_console::wait_ended(DWORD ms) const noexcept {
    return ended_ && ::WaitForSingleObject(ended_.get(), ms) == WAIT_OBJECT_0;
}

void pseudo_console::close() noexcept {
    if (relay_.joinable()) {
        stopping_ = true;
        ::SetEvent(control_.get());
        relay_.join();
    }
    user_read_.reset();
    input_.reset();
    console_out_.reset();
    user_write_.reset();
    std::lock_guard lock(mutex_);
    process_.reset();
}

}  // namespace tether::detail
