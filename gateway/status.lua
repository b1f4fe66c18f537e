-- REST status codes the gRPC-JSON transcoder cannot express by itself.
--
-- This filter sits BEFORE the transcoder, so on the way back it sees the final,
-- already transcoded response. The services send `x-http-status` (201 on create,
-- 204 on delete) as initial metadata; it is applied only over a 200, so an error
-- mapped by the transcoder is never masked. A 204 must lose its "{}" body, or
-- keep-alive clients read it as the start of the next response.

-- A route whose RPC declares `response_body: "x"` carries metadata unwrap = "x": Envoy
-- 1.40 cannot do it, so the body {"x":<value>} becomes <value> here. render.py only
-- allows this for messages with that one field, so nothing else is lost.

local function unwrap(handle, field)
  local body = handle:body()
  if body == nil then
    return
  end
  local text = body:getBytes(0, body:length())
  local prefix = '{"' .. field .. '":'
  if text:sub(1, #prefix) == prefix and text:sub(-1) == "}" then
    body:setBytes(text:sub(#prefix + 1, -2))
  end
end

function envoy_on_response(handle)
  local field = handle:metadata():get("unwrap")
  if field ~= nil and handle:headers():get(":status") == "200" then
    unwrap(handle, field)
  end
  local wanted = handle:headers():get("x-http-status")
  if wanted ~= nil then
    handle:headers():remove("x-http-status")
    if handle:headers():get(":status") == "200" and (wanted == "201" or wanted == "204") then
      handle:headers():replace(":status", wanted)
      if wanted == "204" then
        local body = handle:body()
        if body ~= nil then
          body:setBytes("")
        end
        -- Fetch the headers again: a handle taken before body() stops applying changes.
        handle:headers():remove("content-type")
      end
    end
  end
  if handle:headers():get(":status") == "401" then
    handle:headers():replace("www-authenticate", "Bearer")
  end
  -- gRPC details the transcoder leaves on REST replies mean nothing to a REST client;
  -- a gRPC reply (e.g. Envoy's UNIMPLEMENTED for an unrouted gRPC call) keeps them.
  local content_type = handle:headers():get("content-type") or ""
  if content_type:find("application/grpc", 1, true) ~= 1 then
    handle:headers():remove("grpc-status")
    handle:headers():remove("grpc-message")
    handle:headers():remove("grpc-accept-encoding")
  end
end
