// Windows: the facts of handles behind holders (windows/holders_os.hpp) — the system handle
// table, and each pipe handle's end and name.
//
// A query on a synchronous file handle waits for the file object's lock, so on real Windows it
// hangs while another thread of the holder sits in a ReadFile on it. Every per-handle file query
// (type, pipe end, name) therefore runs in a helper thread bounded by query_timeout_ms, for
// every handle, ours too (our own program may be the one blocked in a read: that is when it
// calls holders()). A query that times out leaves its thread and its handle duplicate behind
// until the read returns; the handle is then reported as what CompareObjectHandles alone can
// tell. wine 8 answers the table with PIDs, values, access and types, but a NULL Object address.
#include "windows/holders_os.hpp"

#include <tether/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>

#include <winternl.h>

namespace tether::detail::holders_os {
namespace {

constexpr ULONG system_handle_information = 16;
constexpr ULONG system_extended_handle_information = 64;
constexpr NTSTATUS status_info_length_mismatch = static_cast<NTSTATUS>(0xC0000004L);

struct extended_entry {  // SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX
    PVOID object;
    ULONG_PTR pid;
    ULONG_PTR value;
    ULONG access;
    USHORT creator_back_trace_index;
    USHORT type;
    ULONG attributes;
    ULONG reserved;
};

struct legacy_entry {  // SYSTEM_HANDLE_TABLE_ENTRY_INFO
    USHORT pid;
    USHORT creator_back_trace_index;
    UCHAR type;
    UCHAR attributes;
    USHORT value;
    PVOID object;
    ULONG access;
};

// NtQuerySystemInformation(cls) into a buffer grown until the table fits; nullopt if refused.
std::optional<std::vector<std::byte>> query_system(ULONG cls) {
    std::vector<std::byte> buf(std::size_t{1} << 16);
    for (int attempt = 0; attempt < 20; ++attempt) {
        ULONG needed = 0;
        NTSTATUS st = ::NtQuerySystemInformation(static_cast<SYSTEM_INFORMATION_CLASS>(cls), buf.data(),
                                                 static_cast<ULONG>(buf.size()), &needed);
        if (st == status_info_length_mismatch) {
            buf.resize(std::max<std::size_t>(buf.size() * 2, std::size_t{needed} + 65536));
            continue;
        }
        if (st < 0) return std::nullopt;
        return buf;
    }
    return std::nullopt;
}

template <typename Header, typename Entry>
std::vector<table_entry> entries_of(const std::vector<std::byte>& buf, std::size_t header_size) {
    Header count{};
    std::memcpy(&count, buf.data(), sizeof count);
    std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(count), (buf.size() - header_size) / sizeof(Entry));
    std::vector<table_entry> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        Entry e{};
        std::memcpy(&e, buf.data() + header_size + i * sizeof(Entry), sizeof e);
        out.push_back({static_cast<std::int64_t>(e.pid), static_cast<std::int64_t>(e.value), e.access, e.type});
    }
    return out;
}

std::vector<table_entry> system_handles() {
    if (auto buf = query_system(system_extended_handle_information))
        return entries_of<ULONG_PTR, extended_entry>(*buf, 2 * sizeof(ULONG_PTR));
    if (auto buf = query_system(system_handle_information))
        return entries_of<ULONG, legacy_entry>(*buf, sizeof(ULONG_PTR));  // ULONG count, padded
    throw_error(errc::not_supported, "holders: NtQuerySystemInformation gives no system handle table");
}


pipe_facts query_facts(HANDLE h) {
    pipe_facts f;
    f.answered = true;
    if (::GetFileType(h) != FILE_TYPE_PIPE) return f;
    pipe_local_information local{};
    if (!query_pipe_local(h, local)) return f;
    f.is_pipe = true;
    f.server = local.end == 1;  // FILE_PIPE_SERVER_END
    alignas(OBJECT_NAME_INFORMATION) std::byte buf[2048];
    ULONG len = 0;
    if (::NtQueryObject(h, ObjectNameInformation, buf, sizeof buf, &len) == 0) {
        const auto* info = reinterpret_cast<const OBJECT_NAME_INFORMATION*>(buf);
        if (info->Name.Buffer)
            f.name = detail::narrow(std::wstring_view(info->Name.Buffer, info->Name.Length / sizeof(wchar_t)));
    }
    return f;
}

// Shared by the caller and the helper thread; whoever lets go last frees it (and the handle).
struct query_job {
    unique_handle h;
    pipe_facts facts;
};

DWORD WINAPI query_thread(void* arg) {
    std::shared_ptr<query_job> job(*static_cast<std::shared_ptr<query_job>*>(arg));
    delete static_cast<std::shared_ptr<query_job>*>(arg);
    pipe_facts f = query_facts(job->h.get());
    job->facts = f;
    return 0;
}

}  // namespace

handle_table take_table() {
    unique_handle probe(::CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr,
                                      OPEN_EXISTING, 0, nullptr));
    handle_table t{system_handles(), std::nullopt};
    auto self = static_cast<std::int64_t>(::GetCurrentProcessId());
    for (const auto& e : t.entries)
        if (probe && e.pid == self && e.value == handle_to_integer(probe.get())) t.file_type = e.type;
    return t;
}

// query_facts(h) in a helper thread, waited for at most query_timeout_ms (see the top).
pipe_facts bounded_facts(HANDLE h) {
    HANDLE copy = nullptr;
    if (!::DuplicateHandle(::GetCurrentProcess(), h, ::GetCurrentProcess(), &copy, 0, FALSE, DUPLICATE_SAME_ACCESS))
        return {};
    auto job = std::make_shared<query_job>();
    job->h.reset(copy);
    auto* arg = new std::shared_ptr<query_job>(job);
    unique_handle thread(::CreateThread(nullptr, 64 * 1024, query_thread, arg, STACK_SIZE_PARAM_IS_A_RESERVATION, nullptr));
    if (!thread) {
        delete arg;
        return {};
    }
    if (::WaitForSingleObject(thread.get(), query_timeout_ms) != WAIT_OBJECT_0) return {};  // left behind
    return job->facts;
}

object_end end_from_access(ACCESS_MASK access) {
    bool r = (access & FILE_READ_DATA) != 0, w = (access & FILE_WRITE_DATA) != 0;
    if (r && !w) return object_end::read;
    if (w && !r) return object_end::write;
    return object_end::both;
}

}  // namespace tether::detail::holders_os
