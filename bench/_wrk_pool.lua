-- wrk script for bench/ocsp.py: cycles over a pool of pre-built requests.
-- Pool file (first arg after `--`): one request per line, "GET <path>" or "POST <path> <hex body>".
local pool, i, threads = {}, 0, 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

local function unhex(h)
  return (h:gsub("..", function(cc) return string.char(tonumber(cc, 16)) end))
end

function init(args)
  local headers = {["Content-Type"] = "application/ocsp-request"}
  for line in io.lines(args[1]) do
    local method, path, body = line:match("^(%S+) (%S+) ?(%x*)$")
    if method == "POST" then
      pool[#pool + 1] = wrk.format("POST", path, headers, unhex(body))
    elseif method then
      pool[#pool + 1] = wrk.format("GET", path)
    end
  end
  i = ((id or 0) * 499) % #pool -- threads start at different places in the pool
end

function request()
  i = i % #pool + 1
  return pool[i]
end
