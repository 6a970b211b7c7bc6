-- wrk script of bench/web_load.py.
--
--   wrk ... -s load.lua URL -- REQUESTS_FILE EXPECT_STATUS EXPECT_LOCATION EXPECT_MARKER
--
-- REQUESTS_FILE holds one request per line, tab-separated: method, path, body, then header
-- name and value pairs (no field holds a tab). Each thread starts at its own offset and
-- rotates through them, so sessions rotate too. Every response is counted by status; a
-- response with the expected status still counts as unexpected when its Location does not
-- start with EXPECT_LOCATION or its body lacks EXPECT_MARKER ("-" turns either check off).
-- done() prints one line, "WRK_JSON {...}", with the counts of all threads, wrk's error
-- counters and latency percentiles in microseconds.

local threads = {}
local next_id = 1

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local requests = {}
local position = 0
local expect_status, expect_location, expect_marker
counts = {}

local function split(line)
   local fields = {}
   local start = 1
   while true do
      local stop = string.find(line, "\t", start, true)
      if not stop then
         table.insert(fields, string.sub(line, start))
         return fields
      end
      table.insert(fields, string.sub(line, start, stop - 1))
      start = stop + 1
   end
end

function init(args)
   for line in io.lines(args[1]) do
      if #line > 0 then
         local fields = split(line)
         local headers = {}
         for i = 4, #fields - 1, 2 do
            headers[fields[i]] = fields[i + 1]
         end
         local body = fields[3]
         if body == "" then
            body = nil
         end
         table.insert(requests, wrk.format(fields[1], fields[2], headers, body))
      end
   end
   expect_status = tonumber(args[2])
   expect_location = args[3]
   expect_marker = args[4]
   -- Each thread starts somewhere else in the list (setup() numbered them from 1).
   position = (id - 1) * 7919 % #requests
end

function request()
   position = position % #requests + 1
   return requests[position]
end

function response(status, headers, body)
   local key = tostring(status)
   if status == expect_status then
      if expect_location ~= "-" then
         local location = headers["Location"] or headers["location"] or ""
         if string.sub(location, 1, #expect_location) ~= expect_location then
            key = key .. " unexpected-location"
         end
      end
      if expect_marker ~= "-" then
         if body == nil or not string.find(body, expect_marker, 1, true) then
            key = key .. " marker-missing"
         end
      end
   end
   counts[key] = (counts[key] or 0) + 1
end

local function json_string(text)
   return '"' .. string.gsub(text, '[%c"\\]', function(c)
      return string.format("\\u%04x", string.byte(c))
   end) .. '"'
end

function done(summary, latency, requests_done)
   local totals = {}
   for _, thread in ipairs(threads) do
      local thread_counts = thread:get("counts")
      for key, value in pairs(thread_counts) do
         totals[key] = (totals[key] or 0) + value
      end
   end
   local parts = {}
   for key, value in pairs(totals) do
      table.insert(parts, json_string(key) .. ":" .. value)
   end
   local errors = summary.errors
   local out = {
      '"duration_us":' .. summary.duration,
      '"requests":' .. summary.requests,
      '"bytes":' .. summary.bytes,
      '"statuses":{' .. table.concat(parts, ",") .. "}",
      string.format('"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d}',
                    errors.connect, errors.read, errors.write, errors.timeout),
      '"non_2xx_3xx":' .. errors.status,
      string.format('"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,'
                    .. '"p50":%d,"p90":%d,"p95":%d,"p99":%d,"p999":%d}',
                    latency.min, latency.mean, latency.stdev, latency.max,
                    latency:percentile(50), latency:percentile(90), latency:percentile(95),
                    latency:percentile(99), latency:percentile(99.9)),
   }
   io.write("WRK_JSON {" .. table.concat(out, ",") .. "}\n")
end
