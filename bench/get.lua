-- wrk script: GET with $KEY; counts non-2xx so a failing run is visible. upload.lua runs
-- it too, for the same key and count.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
local bad = 0
response = function(status, headers, body)
  if status >= 300 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx responses: %d\n", bad))
end
