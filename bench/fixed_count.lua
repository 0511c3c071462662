-- wrk script: POST a JSON body, stop each thread after a fixed number of responses,
-- print one JSON line with the numbers. Env: BODY_FILE, N_PER_THREAD.
local body_file = os.getenv("BODY_FILE")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
local max_requests = tonumber(os.getenv("N_PER_THREAD") or "1000")
local seen = 0

function response(status, headers, body)
  seen = seen + 1
  if seen >= max_requests then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), errors))
end
