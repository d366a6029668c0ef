-- wrk script: POST the image in $IMG to $UPLOAD_PATH with $KEY.
local f = assert(io.open(os.getenv("IMG"), "rb"))
wrk.body = f:read("*all")
f:close()
wrk.method = "POST"
wrk.path = os.getenv("UPLOAD_PATH")
wrk.headers["Content-Type"] = "image/jpeg"
-- The key and the count of non-2xx responses: get.lua's, from beside this script.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "get.lua")
