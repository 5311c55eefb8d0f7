-- wrk script: POST /v1/match/upload with the image $IMAGE as the multipart field `file`.
local f = assert(io.open(os.getenv("IMAGE"), "rb"))
local data = f:read("*all")
f:close()
local boundary = "spoorbench"
wrk.method = "POST"
wrk.body = "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jpg\"\r\n"
  .. "Content-Type: image/jpeg\r\n\r\n" .. data .. "\r\n--" .. boundary .. "--\r\n"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
