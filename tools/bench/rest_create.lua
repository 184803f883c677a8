-- wrk script: POST form-encoded sends to the REST facade's create endpoint, as the provider's
-- helper libraries do (Basic auth, keep-alive, application/x-www-form-urlencoded).
--
--   build/gateway/mmsgate --scenario tools/bench/rest_bench.txtpb \
--       --data-dir /tmp/mmsgate-bench --http 127.0.0.1:8080 --grpc 127.0.0.1:0
--   wrk -t2 -c32 -d10s -s tools/bench/rest_create.lua \
--       http://127.0.0.1:8080/2010-04-01/Accounts/AC5e0d5b3c7f1a4e2b9c8d7f6a5b4c3d2e/Messages.json
--
-- Environment (defaults: the built-in scenario's account and numbers, also in rest_bench.txtpb):
--   MMSGATE_SID, MMSGATE_TOKEN   credentials (the AccountSid must match the URL's)
--   MMSGATE_FROM, MMSGATE_TO     sender and destination (E.164)
-- The sender's rate limit must be off (simulation.disable_sender_rate_limits: true), or the
-- gateway answers 429 (21611) once the sender holds 10 hours of its rate. wrk counts every answer
-- but 2xx/3xx under "Non-2xx or 3xx responses"; a run is valid only when there are none.

local sid = os.getenv("MMSGATE_SID") or "AC5e0d5b3c7f1a4e2b9c8d7f6a5b4c3d2e"
local token = os.getenv("MMSGATE_TOKEN") or "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
local from = os.getenv("MMSGATE_FROM") or "+12025550100"
local to = os.getenv("MMSGATE_TO") or "+12025550142"

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(text)
  local out = {}
  for i = 1, #text, 3 do
    local a, b, c = text:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = {}
    for k = 3, 0, -1 do
      local index = math.floor(n / 64 ^ k) % 64 + 1
      chars[#chars + 1] = alphabet:sub(index, index)
    end
    if not b then chars[3], chars[4] = "=", "=" elseif not c then chars[4] = "=" end
    out[#out + 1] = table.concat(chars)
  end
  return table.concat(out)
end

local function form_escape(text)
  return (text:gsub("[^%w%-%._~ ]", function(c) return string.format("%%%02X", c:byte()) end)
              :gsub(" ", "+"))
end

local headers = {
  ["Authorization"] = "Basic " .. base64(sid .. ":" .. token),
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Accept"] = "application/json",
}
local prefix = "To=" .. form_escape(to) .. "&From=" .. form_escape(from) .. "&Body="
local counter = 0

request = function()
  counter = counter + 1
  return wrk.format("POST", nil, headers, prefix .. form_escape("load test " .. counter))
end
