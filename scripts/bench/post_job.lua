-- wrk script: POST /v1/jobs with the photo named by $BENCH_PHOTO, a preset and tiny
-- parameters, as a multipart form.
local file = assert(io.open(os.getenv("BENCH_PHOTO"), "rb"))
local photo = file:read("*a")
file:close()

local boundary = "stylize-bench-boundary"
local function part(name, headers, value)
  return "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"" .. name .. "\""
    .. headers .. "\r\n\r\n" .. value .. "\r\n"
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.body = part("content", "; filename=\"photo.jpg\"\r\nContent-Type: image/jpeg", photo)
  .. part("preset", "", "starry-night")
  .. part("params", "", "{\"size\": 64, \"iterations\": 5}")
  .. "--" .. boundary .. "--\r\n"
