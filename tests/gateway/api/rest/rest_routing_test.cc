// The REST facade's routing: which resource and method answer what, over the core assembled in
// memory (no listener: the handler is called directly).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "fakes/test_gateway.h"
#include "gateway/accounts/authority.h"
#include "gateway/api/rest/rest_facade.h"

namespace mmsgate::gateway {
namespace {

using nlohmann::json;
using testing::TestGateway;

class RestRoutingTest : public ::testing::Test {
 protected:
  RestRoutingTest()
      : handler_(MakeRestFacade(gateway_.directory, authority_, gateway_.sender, gateway_.messages,
                                chaos_, gateway_.io.get_executor())) {}

  HttpResponse Call(http::verb method, const std::string& target, const std::string& form = "",
                    bool authenticated = true) {
    HttpRequest request(method, target, 11);
    if (authenticated) {
      request.set(http::field::authorization,
                  "Basic " + absl::Base64Escape(std::string(testing::kTestAccount) + ":" +
                                                testing::kTestToken));
    }
    if (!form.empty()) {
      request.set(http::field::content_type, "application/x-www-form-urlencoded");
      request.body() = form;
    }
    std::optional<HttpResponse> response;
    handler_(std::move(request), [&response](HttpResponse r) { response = std::move(r); });
    for (int i = 0; i < 100 && !response; ++i) gateway_.Run();
    EXPECT_TRUE(response.has_value()) << target;
    return response.value_or(HttpResponse{});
  }
  static json Body(const HttpResponse& response) {
    return json::parse(response.body(), nullptr, /*allow_exceptions=*/false);
  }
  const std::string base_ = std::string("/2010-04-01/Accounts/") + testing::kTestAccount;
  TestGateway gateway_;
  Authority authority_{gateway_.directory, ""};
  ApiChaos chaos_{gateway_.clock, 1};
  HttpHandler handler_;
};

TEST_F(RestRoutingTest, CredentialsAreRequiredAndOtherAccountsAreNotFound) {
  auto anonymous = Call(http::verb::get, base_ + "/Messages.json", "", false);
  EXPECT_EQ(anonymous.result_int(), 401);
  EXPECT_EQ(Body(anonymous)["code"], 20003);
  EXPECT_FALSE(anonymous[http::field::www_authenticate].empty());
  auto other = Call(http::verb::get,
                    "/2010-04-01/Accounts/ACfedcba9876543210fedcba9876543210/Messages.json");
  EXPECT_EQ(other.result_int(), 404);
  EXPECT_EQ(Body(other)["code"], 20404);
  EXPECT_EQ(Call(http::verb::get, base_ + "/Calls.json").result_int(), 404);
}

TEST_F(RestRoutingTest, AResourceAnswersItsMethodsAndNamesThemOtherwise) {
  auto wrong = Call(http::verb::put, base_ + "/Messages.json");
  EXPECT_EQ(wrong.result_int(), 405);
  EXPECT_EQ(Body(wrong)["code"], 20004);
  EXPECT_EQ(wrong[http::field::allow], "GET, HEAD, POST");
  EXPECT_EQ(Call(http::verb::get, base_ + "/Messages.json").result_int(), 200);
  EXPECT_EQ(Call(http::verb::head, base_ + "/Messages.json").result_int(), 200);
}

TEST_F(RestRoutingTest, CreateReadAndDeleteAMessage) {
  auto created = Call(http::verb::post, base_ + "/Messages.json",
                      "From=%2B12025550100&To=%2B12025550142&Body=hi");
  ASSERT_EQ(created.result_int(), 201) << created.body();
  const std::string sid = Body(created)["sid"];
  EXPECT_EQ(Body(created)["status"], "queued");
  auto fetched = Call(http::verb::get, base_ + "/Messages/" + sid + ".json");
  EXPECT_EQ(fetched.result_int(), 200);
  EXPECT_EQ(Body(fetched)["sid"], sid);
  // Not finished yet: the provider's 20009.
  auto early = Call(http::verb::delete_, base_ + "/Messages/" + sid + ".json");
  EXPECT_EQ(early.result_int(), 409);
  EXPECT_EQ(Body(early)["code"], 20009);
  gateway_.Advance(std::chrono::seconds(2));
  EXPECT_EQ(Call(http::verb::delete_, base_ + "/Messages/" + sid + ".json").result_int(), 204);
  EXPECT_EQ(Call(http::verb::get, base_ + "/Messages/" + sid + ".json").result_int(), 404);
  auto refused = Call(http::verb::post, base_ + "/Messages.json", "From=%2B12025550100&Body=hi");
  EXPECT_EQ(refused.result_int(), 400);
  EXPECT_EQ(Body(refused)["code"], 21604);
}

TEST_F(RestRoutingTest, NumbersAreListedProvisionedAndReleased) {
  auto list = Call(http::verb::get, base_ + "/IncomingPhoneNumbers.json");
  ASSERT_EQ(list.result_int(), 200);
  EXPECT_EQ(Body(list)["incoming_phone_numbers"].size(), 2u);
  auto provisioned =
      Call(http::verb::post, base_ + "/IncomingPhoneNumbers.json", "PhoneNumber=%2B12025550177");
  ASSERT_EQ(provisioned.result_int(), 201) << provisioned.body();
  const std::string sid = Body(provisioned)["sid"];
  EXPECT_EQ(
      Call(http::verb::delete_, base_ + "/IncomingPhoneNumbers/" + sid + ".json").result_int(),
      204);
  EXPECT_EQ(Call(http::verb::get, base_ + "/IncomingPhoneNumbers/" + sid + ".json").result_int(),
            404);
}

}  // namespace
}  // namespace mmsgate::gateway
