-- wrk script: POST the image in $IMG to $UPLOAD_PATH with $KEY.
local f = assert(io.open(os.getenv("IMG"), "rb"))
wrk.body = f:read("*all")
f:close()
wrk.method = "POST"
wrk.path = os.getenv("UPLOAD_PATH")
wrk.headers["Content-Type"] = "image/jpeg"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
