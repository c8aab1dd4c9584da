// Windows only: the security of tether's pipes (owner-only DACL, first instance, a squatted
// name never connected to) and message-mode pipes from other code (ERROR_MORE_DATA is data).
#include "support/harness.hpp"
#include "testing/test_hooks.hpp"
#include "windows/win.hpp"

#include <tether/tether.hpp>

#include <gtest/gtest.h>

#include <aclapi.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct local_free {
    void operator()(void* p) const noexcept { ::LocalFree(p); }
};

// Our token's user SID.
std::vector<unsigned char> user_sid() {
    HANDLE raw = nullptr;
    if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &raw)) return {};
    tether::unique_handle token(raw);
    DWORD need = 0;
    ::GetTokenInformation(token.get(), TokenUser, nullptr, 0, &need);
    std::vector<unsigned char> buf(need);
    if (need == 0 || !::GetTokenInformation(token.get(), TokenUser, buf.data(), need, &need)) return {};
    auto* sid = reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid;
    std::vector<unsigned char> out(::GetLengthSid(sid));
    ::CopySid(static_cast<DWORD>(out.size()), out.data(), sid);
    return out;
}

// The pipe behind `h` has a DACL with exactly one ACE, which allows our user.
::testing::AssertionResult owner_only(HANDLE h) {
    PACL dacl = nullptr;
    PSECURITY_DESCRIPTOR raw_sd = nullptr;
    DWORD err = ::GetSecurityInfo(h, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, nullptr, nullptr, &dacl, nullptr,
                                  &raw_sd);
    if (err != ERROR_SUCCESS) return ::testing::AssertionFailure() << "GetSecurityInfo: error " << err;
    std::unique_ptr<void, local_free> sd(raw_sd);
    if (dacl == nullptr) return ::testing::AssertionFailure() << "no DACL at all: everyone has full access";
    ACL_SIZE_INFORMATION info{};
    if (!::GetAclInformation(dacl, &info, sizeof info, AclSizeInformation))
        return ::testing::AssertionFailure() << "GetAclInformation: error " << ::GetLastError();
    if (info.AceCount != 1) return ::testing::AssertionFailure() << info.AceCount << " ACEs, not 1";
    void* ace = nullptr;
    if (!::GetAce(dacl, 0, &ace)) return ::testing::AssertionFailure() << "GetAce: error " << ::GetLastError();
    auto* header = static_cast<ACE_HEADER*>(ace);
    if (header->AceType != ACCESS_ALLOWED_ACE_TYPE)
        return ::testing::AssertionFailure() << "ACE type " << int(header->AceType) << ", not access-allowed";
    auto* allowed = static_cast<ACCESS_ALLOWED_ACE*>(ace);
    auto sid = user_sid();
    if (sid.empty() || !::EqualSid(&allowed->SidStart, sid.data()))
        return ::testing::AssertionFailure() << "the ACE is not for our user";
    SECURITY_DESCRIPTOR_CONTROL control = 0;
    DWORD revision = 0;
    ::GetSecurityDescriptorControl(sd.get(), &control, &revision);
    std::cout << "[   NOTE   ] pipe DACL: 1 ACE, our user, mask 0x" << std::hex << allowed->Mask << std::dec
              << ((control & SE_DACL_PROTECTED) ? ", protected" : ", protection bit not reported") << "\n";
    return ::testing::AssertionSuccess();
}

}  // namespace

TEST(WindowsPipeSecurity, PipesAreOwnerOnly) {
    auto [r, w] = tether::make_pipe();
    EXPECT_TRUE(owner_only(r.get())) << "make_pipe, our end";
    EXPECT_TRUE(owner_only(w.get())) << "make_pipe, the other end (the same pipe object)";
    tether::pipe_server s(tether::direction::out);
    EXPECT_TRUE(owner_only(s.handle().get())) << "pipe_server";
    auto [ours, theirs] = tether::make_channel();
    EXPECT_TRUE(owner_only(ours.native().get())) << "make_channel";
}

TEST(WindowsPipeSecurity, SquattedNameIsNeverConnectedTo) {
    // Someone created an instance with the name we are about to use (here: we plant it, with
    // the default security and unlimited instances). FILE_FLAG_FIRST_PIPE_INSTANCE refuses the
    // name; the creation takes a fresh name and never opens the squatter's instance.
    std::error_code name_ec;
    auto name = tether::detail::unique_pipe_name(L"squat-", name_ec);
    ASSERT_FALSE(name_ec) << name_ec.message();
    tether::unique_handle squatter(::CreateNamedPipeW(name.c_str(), PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE | PIPE_NOWAIT,
                                                      PIPE_UNLIMITED_INSTANCES, 4096, 4096, 0, nullptr));
    ASSERT_TRUE(squatter) << "CreateNamedPipeW: error " << ::GetLastError();
    tether::unique_handle direct(::CreateNamedPipeW(name.c_str(), PIPE_ACCESS_INBOUND | FILE_FLAG_FIRST_PIPE_INSTANCE,
                                                    PIPE_TYPE_BYTE, 1, 4096, 4096, 0, nullptr));
    const DWORD direct_error = ::GetLastError();
    EXPECT_FALSE(direct) << "FILE_FLAG_FIRST_PIPE_INSTANCE must refuse a name that exists";
    std::cout << "[   NOTE   ] a first instance on a squatted name fails with error " << direct_error << "\n";

    tether::detail::pipe_instance_spec spec;
    spec.kind = L"squat-";
    spec.server_mode = PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED;
    spec.pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE;
    spec.buffer_size = 65536;
    spec.client_access = GENERIC_WRITE | FILE_READ_ATTRIBUTES;
    std::error_code ec;
    tether::detail::test_hooks::plant_first_pipe_name(name);
    auto p = tether::detail::create_pipe_instance(spec, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_NE(p.name, name) << "a fresh name was taken";
    EXPECT_FALSE(::ConnectNamedPipe(squatter.get(), nullptr));
    EXPECT_EQ(::GetLastError(), static_cast<DWORD>(ERROR_PIPE_LISTENING)) << "nobody connected to the squatter";
    tether::write_all(p.client, "ours");
    char buf[8] = {};
    EXPECT_EQ(tether::read(p.server, std::as_writable_bytes(std::span(buf))), 4u);
    EXPECT_EQ(std::string(buf), "ours");
}

TEST(WindowsPipe, LongMessagesOfAMessageModePipeArriveWhole) {
    // A message-mode pipe (made by other code, e.g. a .NET NamedPipeServerStream with
    // PipeTransmissionMode.Message) read with a buffer smaller than the message: each ReadFile
    // fails with ERROR_MORE_DATA AND transfers bytes; all of them must arrive, in order, on the
    // synchronous path (the client) and the overlapped one (the server).
    std::vector<std::byte> message(1000);
    for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<std::byte>(i % 251);
    for (bool server_reads : {false, true}) {
        std::error_code name_ec;
        auto name = tether::detail::unique_pipe_name(L"msg-", name_ec);
        ASSERT_FALSE(name_ec) << name_ec.message();
        DWORD mode = (server_reads ? PIPE_ACCESS_INBOUND : PIPE_ACCESS_OUTBOUND) | FILE_FLAG_OVERLAPPED;
        tether::unique_handle server(::CreateNamedPipeW(name.c_str(), mode,
                                                        PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, 1,
                                                        65536, 65536, 0, nullptr));
        ASSERT_TRUE(server) << "CreateNamedPipeW: error " << ::GetLastError();
        DWORD access = server_reads ? GENERIC_WRITE | FILE_READ_ATTRIBUTES : GENERIC_READ | FILE_WRITE_ATTRIBUTES;
        tether::unique_handle client(::CreateFileW(name.c_str(), access, 0, nullptr, OPEN_EXISTING, 0, nullptr));
        ASSERT_TRUE(client) << "CreateFileW: error " << ::GetLastError();
        DWORD read_mode = PIPE_READMODE_MESSAGE;
        if (!server_reads) {
            ASSERT_TRUE(::SetNamedPipeHandleState(client.get(), &read_mode, nullptr, nullptr));
        }
        auto& writer = server_reads ? client : server;
        auto& reader = server_reads ? server : client;
        tether::write_all(writer, message);
        tether::write_all(writer, std::as_bytes(std::span("!", 1)));  // a second message
        std::vector<std::byte> got;
        while (got.size() < message.size() + 1) {
            std::byte buf[100];
            std::error_code ec;
            auto n = tether::read_for(reader, buf, 5s, ec);
            ASSERT_FALSE(ec) << (server_reads ? "server" : "client") << " after " << got.size() << " bytes: "
                             << ec.message();
            ASSERT_NE(n, 0u) << "end-of-file after " << got.size() << " bytes";
            got.insert(got.end(), buf, buf + n);
        }
        auto expected = message;
        expected.push_back(std::byte{'!'});
        EXPECT_EQ(got, expected) << (server_reads ? "server" : "client");
    }
}

TEST(WindowsPipeSecurity, PipeNamesAreNeverMadeWithoutRandomBits) {
    // BCryptGenRandom failing would leave the name's 128 random bits all zero: a name another
    // process can predict and squat. Every call that makes a pipe fails instead, naming what
    // failed, with the OS error.
    constexpr long status_unsuccessful = static_cast<long>(0xC0000001L);
    struct restore {
        ~restore() { tether::detail::test_hooks::pipe_random_fails(0); }
    } restore_later;
    tether::detail::test_hooks::pipe_random_fails(status_unsuccessful);
    auto expect_refused = [](const char* call, auto make) {
        try {
            make();
            ADD_FAILURE() << call << " made a pipe without random bits in its name";
        } catch (const std::system_error& e) {
            EXPECT_NE(std::string(e.what()).find("BCryptGenRandom"), std::string::npos) << call << ": " << e.what();
            EXPECT_EQ(e.code().category(), std::system_category()) << call << ": " << e.what();
            EXPECT_EQ(e.code().value(), static_cast<int>(ERROR_GEN_FAILURE)) << call << ": " << e.what();
        }
    };
    expect_refused("make_pipe()", [] { (void)tether::make_pipe(); });
    expect_refused("make_pipe(direction::out)", [] { (void)tether::make_pipe(tether::direction::out); });
    expect_refused("make_channel()", [] { (void)tether::make_channel(); });
    tether::detail::test_hooks::pipe_random_fails(0);
    auto [r, w] = tether::make_pipe();  // and pipes work again once the source does
    EXPECT_TRUE(r);
}
