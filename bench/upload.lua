-- wrk script: POST the image in $IMG to $UPLOAD_PATH with $KEY.
local f = assert(io.open(os.getenv("IMG"), "rb"))
wrk.body = f:read("*all")
f:close()
wrk.method = "POST"
wrk.path = os.getenv("UPLOAD_PATH")
wrk.headers["Content-Type"] = "image/jpeg"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
local bad = 0
response = function(status, headers, body)
  if status >= 300 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx responses: %d\n", bad))
end
