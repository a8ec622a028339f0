"""order.place / order.cancel requests built, signed, framed and written in one compiled call.

The order path of the node. In Python, building a request (decimal strings, client order id,
the signed payload, HMAC-SHA256, JSON), framing it (websockets' sans-I/O protocol, a random mask)
and writing it (the asyncio transport) runs a few thousand bytecodes over hundreds of objects:
about 10 us when they are in the CPU caches, 100 us in the node, where the market data between
two orders has evicted them. Here the same work is one C function over a few kilobytes: the
request is written into a fixed buffer, signed with OpenSSL's SHA-256 functions from the two keyed states
computed once (RFC 2104), framed as one masked text frame (RFC 6455 5.2; masks from getrandom(),
as the RFC requires of a client) and handed to send() on the connection's socket.

It produces, byte for byte, the JSON RequestBuilder produces (the tests hold it to that for every
order shape), so the venue sees no difference. What it cannot do exactly (a decimal string beyond
int64, an order type it was not given) it declines, and the gateway takes the Python path.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Calloc, PyMem_Free
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.string cimport memcpy, memset

from hotpath.types cimport OT_MARKET, SELL

cdef extern from *:
    """
    /* SHA-256's own functions, not the EVP interface: OpenSSL 3 marks them deprecated in favour
       of EVP, whose provider dispatch and per-copy context allocation touch many times the code
       and memory, which is what an order pays for when it runs cold. They remain in OpenSSL 3. */
    #define OPENSSL_SUPPRESS_DEPRECATED
    """

cdef extern from "<openssl/sha.h>" nogil:
    ctypedef struct SHA256_CTX:
        pass
    int SHA256_Init(SHA256_CTX* ctx)
    int SHA256_Update(SHA256_CTX* ctx, const void* data, size_t n)
    int SHA256_Final(unsigned char* md, SHA256_CTX* ctx)

cdef extern from "<sys/socket.h>" nogil:
    ssize_t send(int fd, const void* buf, size_t n, int flags)
    int MSG_DONTWAIT
    int MSG_NOSIGNAL

cdef extern from "<errno.h>" nogil:
    int errno
    int EAGAIN
    int EWOULDBLOCK
    int EINTR

cdef extern from "<sys/random.h>" nogil:
    ssize_t getrandom(void* buf, size_t n, unsigned int flags)

cdef enum:
    MAX_ORDER_TYPES = 4
    MAX_TIFS = 4
    TEXT_MAX = 48          # a symbol, an order type or timeInForce name
    KEY_MAX = 256          # an API key
    PREFIX_MAX = 16        # a client order id prefix (trading.binance.ids.check_prefix)
    PAYLOAD_MAX = 1024     # the signed payload (bounded by the limits above)
    JSON_MAX = 2048        # the request (bounded by the limits above)
    FRAME_HEADER_MAX = 8   # 2 + 2 (length 126..65535) + 4 (mask)
    MASK_POOL = 512        # mask bytes drawn per getrandom() call
    MAX_INSTRUMENTS = 4096

cdef int64_t CLIENT_LIMIT = 1000000000000000000  # as RequestBuilder: `<prefix>-<n>` within 36 characters
MAX_CLIENT_NUMBER = CLIENT_LIMIT
# what send_place / send_cancel return when they did not write: the caller takes the Python path
DECLINED = False


cdef struct Text:
    int n
    char s[TEXT_MAX]


cdef struct Instrument:
    bint known
    bint reduce_only          # a futures market: reduceOnly is sent
    Text symbol
    int price_digits
    int64_t price_step_units
    int qty_digits
    int64_t qty_step_units


cdef struct Buffer:
    char* p
    int n
    int cap
    bint overflow


cdef inline void _put(Buffer* b, const char* s, int n) noexcept nogil:
    if b.n + n > b.cap:
        b.overflow = True
        return
    memcpy(b.p + b.n, s, n)
    b.n += n


cdef inline void _lit(Buffer* b, const char* s) noexcept nogil:
    cdef int n = 0
    while s[n] != 0:
        n += 1
    _put(b, s, n)


cdef inline void _text(Buffer* b, const Text* t) noexcept nogil:
    _put(b, t.s, t.n)


cdef inline void _uint(Buffer* b, uint64_t v) noexcept nogil:
    cdef char digits[24]
    cdef int k = 24
    if v == 0:
        _put(b, "0", 1)
        return
    while v:
        k -= 1
        digits[k] = <char>(48 + v % 10)
        v //= 10
    _put(b, digits + k, 24 - k)


cdef inline void _int(Buffer* b, int64_t v) noexcept nogil:
    if v < 0:
        _put(b, "-", 1)
        _uint(b, <uint64_t>0 - <uint64_t>v)
    else:
        _uint(b, <uint64_t>v)


cdef inline bint _decimal(Buffer* b, int64_t count, int digits, int64_t step_units) noexcept nogil:
    """count * step with `digits` decimals (instruments._format_units), count > 0; False if the
    product does not fit 64 bits (the Python path formats it)."""
    cdef uint64_t units, scale = 1
    cdef char frac[24]
    cdef int k
    if count <= 0 or step_units <= 0:
        return False
    if <uint64_t>count > <uint64_t>0xFFFFFFFFFFFFFFFF // <uint64_t>step_units:
        return False
    units = <uint64_t>count * <uint64_t>step_units
    if digits == 0:
        _uint(b, units)
        return True
    for k in range(digits):
        scale *= 10
    _uint(b, units // scale)
    _put(b, ".", 1)
    units = units % scale
    for k in range(digits - 1, -1, -1):
        frac[k] = <char>(48 + units % 10)
        units //= 10
    _put(b, frac, digits)
    return True


cdef inline void _client_order_id(Buffer* b, const Text* prefix, int64_t client_id) noexcept nogil:
    _text(b, prefix)
    _put(b, "-", 1)
    _int(b, client_id)


cdef void _hex(char* out, const unsigned char* digest) noexcept nogil:
    cdef const char* alphabet = "0123456789abcdef"
    cdef int k
    for k in range(32):
        out[2 * k] = alphabet[digest[k] >> 4]
        out[2 * k + 1] = alphabet[digest[k] & 15]


cdef Text _checked_text(object value, str what, int limit) except *:
    """Printable ASCII without a quote or backslash: the same bytes in JSON and in the payload."""
    cdef Text t
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if not (<str>value).isascii():
        raise ValueError(f"{what} {value!r} is not ASCII: the compiled order path does not write it")
    data = (<str>value).encode("ascii")
    if not data or len(data) > limit:
        raise ValueError(f"{what} must be 1..{limit} characters, got {len(data)}")
    for ch in data:
        if ch < 0x21 or ch > 0x7E or ch == 0x22 or ch == 0x5C or ch == 0x26 or ch == 0x3D:
            raise ValueError(f"{what} {value!r} holds a character the compiled order path does not write")
    t.n = len(data)
    memset(t.s, 0, TEXT_MAX)
    memcpy(t.s, PyBytes_AS_STRING(data), t.n)
    return t


cdef class OrderWire:
    """Signed (HMAC-SHA256) or session-authenticated order requests for one account.

    hmac_key: the HMAC secret (None: the account signs with another key type, and only requests
    of a logged-on session, which carry no signature, are built here). order_types maps
    (order type, tif) to (Binance type, timeInForce or None), as requests.ORDER_TYPES."""

    cdef SHA256_CTX inner  # SHA-256 state after the key XOR ipad block (RFC 2104)
    cdef SHA256_CTX outer  # ... after the key XOR opad block
    cdef SHA256_CTX work
    cdef bint has_key
    cdef char api_key[KEY_MAX]
    cdef int api_key_n
    cdef Text prefix
    cdef int64_t recv_window_ms
    cdef Text type_names[MAX_ORDER_TYPES][MAX_TIFS]
    cdef Text tif_names[MAX_ORDER_TYPES][MAX_TIFS]
    cdef bint type_known[MAX_ORDER_TYPES][MAX_TIFS]
    cdef Instrument* instruments
    cdef char json[JSON_MAX]
    cdef char payload[PAYLOAD_MAX]
    cdef uint8_t frame[FRAME_HEADER_MAX + JSON_MAX]
    cdef uint8_t masks[MASK_POOL]
    cdef int masks_left
    cdef readonly int frame_length  # bytes of the last frame built (tests)
    cdef readonly int send_errno    # the last send()'s error other than a full buffer (0: none)

    def __cinit__(self):
        self.instruments = NULL

    def __dealloc__(self):
        memset(&self.inner, 0, sizeof(SHA256_CTX))  # the keyed states stand for the secret
        memset(&self.outer, 0, sizeof(SHA256_CTX))
        if self.instruments != NULL:
            PyMem_Free(self.instruments)

    def __init__(self, str api_key, object hmac_key, str prefix, int recv_window_ms, dict order_types):
        if self.instruments != NULL:
            raise RuntimeError("an OrderWire is initialised once")
        cdef bytes key
        cdef unsigned char pad[64]
        cdef int k
        if not 0 < recv_window_ms <= 60_000:
            raise ValueError("recv_window_ms must be in (0, 60000]")
        self.recv_window_ms = recv_window_ms
        if not api_key.isascii():
            raise ValueError("api_key is not ASCII: the compiled order path does not write it")
        api = api_key.encode("ascii")
        if not api or len(api) > KEY_MAX:
            raise ValueError(f"api_key must be 1..{KEY_MAX} characters")
        for ch in api:
            if ch < 0x21 or ch > 0x7E or ch == 0x22 or ch == 0x5C or ch == 0x26 or ch == 0x3D:
                raise ValueError("api_key holds a character the compiled order path does not write")
        self.api_key_n = len(api)
        memcpy(self.api_key, PyBytes_AS_STRING(api), self.api_key_n)
        self.prefix = _checked_text(prefix, "prefix", PREFIX_MAX)
        self.has_key = hmac_key is not None
        if self.has_key:
            key = bytes(hmac_key)
            if not key:
                raise ValueError("an HMAC secret must not be empty")
            if len(key) > 64:  # RFC 2104: a long key is hashed first
                import hashlib
                key = hashlib.sha256(key).digest()
            for k in range(2):
                memset(pad, 0x36 if k == 0 else 0x5C, 64)
                for i, byte in enumerate(key):
                    pad[i] ^= byte
                ctx = &self.inner if k == 0 else &self.outer
                if SHA256_Init(ctx) != 1 or SHA256_Update(ctx, pad, 64) != 1:
                    raise RuntimeError("OpenSSL SHA-256 is not available")
            memset(pad, 0, 64)
        for (order_type, tif), (type_name, tif_name) in order_types.items():
            if not (0 <= order_type < MAX_ORDER_TYPES and 0 <= tif < MAX_TIFS):
                raise ValueError(f"order type {order_type} / tif {tif} out of range")
            self.type_names[order_type][tif] = _checked_text(type_name, "order type", TEXT_MAX)
            if tif_name is None:
                self.tif_names[order_type][tif].n = 0
            else:
                self.tif_names[order_type][tif] = _checked_text(tif_name, "timeInForce", TEXT_MAX)
            self.type_known[order_type][tif] = True
        self.instruments = <Instrument*>PyMem_Calloc(MAX_INSTRUMENTS, sizeof(Instrument))
        if self.instruments == NULL:
            raise MemoryError()
        self.masks_left = 0

    @property
    def signs(self) -> bool:
        """True if requests can be signed here (an HMAC key was given)."""
        return self.has_key

    def add_instrument(
        self, int index, str symbol, int price_digits, price_step_units, int qty_digits,
        qty_step_units, bint futures,
    ):
        """Register an instrument (index as in the engine); ValueError leaves it to the Python path."""
        if not 0 <= index < MAX_INSTRUMENTS:
            raise ValueError(f"instrument index {index} out of range")
        for digits, step in ((price_digits, price_step_units), (qty_digits, qty_step_units)):
            if not 0 <= digits <= 18 or not 0 < step < 2**63:
                raise ValueError(f"decimal scale {digits} digits / step {step} not representable")
        cdef Instrument* item = &self.instruments[index]
        item.symbol = _checked_text(symbol, "symbol", TEXT_MAX)
        item.price_digits, item.price_step_units = price_digits, price_step_units
        item.qty_digits, item.qty_step_units = qty_digits, qty_step_units
        item.reduce_only = futures
        item.known = True

    def knows(self, int index) -> bool:
        return 0 <= index < MAX_INSTRUMENTS and self.instruments[index].known

    # ------------------------------------------------------------------ building

    cdef int _sign(self, char* out, const char* data, int n) noexcept nogil:
        cdef unsigned char digest[32]
        memcpy(&self.work, &self.inner, sizeof(SHA256_CTX))
        if SHA256_Update(&self.work, data, n) != 1 or SHA256_Final(digest, &self.work) != 1:
            return -1
        memcpy(&self.work, &self.outer, sizeof(SHA256_CTX))
        if SHA256_Update(&self.work, digest, 32) != 1 or SHA256_Final(digest, &self.work) != 1:
            return -1
        _hex(out, digest)
        return 0

    cdef void _open_payload(self, Buffer* p) noexcept nogil:
        """The signed payload starts with the API key (the parameters in name order)."""
        p.p, p.n, p.cap, p.overflow = self.payload, 0, PAYLOAD_MAX, False
        _lit(p, "apiKey=")
        _put(p, self.api_key, self.api_key_n)

    cdef int _close_signed(self, Buffer* j, const Buffer* p) noexcept nogil:
        """Sign the payload, add apiKey and signature to the request and close it."""
        cdef char signature[64]
        if p.overflow or self._sign(signature, p.p, p.n) != 0:
            return 0
        _lit(j, ',"apiKey":"')
        _put(j, self.api_key, self.api_key_n)
        _lit(j, '","signature":"')
        _put(j, signature, 64)
        _put(j, '"', 1)
        return self._close(j)

    cdef int _close(self, Buffer* j) noexcept nogil:
        _lit(j, "}}")
        return 0 if j.overflow else j.n

    cdef int _place(
        self, int64_t request_id, int index, int64_t client_id, int side, int64_t order_type,
        int64_t tif, int64_t price, int64_t qty, bint reduce_only, int64_t timestamp_ms, bint signed,
    ) noexcept nogil:
        """The request in self.json; its length, -1 malformed (ValueError), 0 declined."""
        cdef Buffer j, p
        cdef Instrument* item
        cdef const Text* tif_name
        cdef const Text* type_name
        cdef bint with_price, with_reduce
        if qty <= 0 or (order_type != OT_MARKET and price <= 0):
            return -1
        if client_id <= 0 or client_id >= CLIENT_LIMIT:
            return -1
        if not (0 <= index < MAX_INSTRUMENTS) or not self.instruments[index].known:
            return 0
        if not (0 <= order_type < MAX_ORDER_TYPES and 0 <= tif < MAX_TIFS) or not self.type_known[order_type][tif]:
            return 0
        if signed and not self.has_key:
            return 0
        item = &self.instruments[index]
        type_name = &self.type_names[order_type][tif]
        tif_name = &self.tif_names[order_type][tif]
        with_price = order_type != OT_MARKET
        with_reduce = reduce_only and item.reduce_only
        j.p, j.n, j.cap, j.overflow = self.json, 0, JSON_MAX, False
        _lit(&j, '{"id":')
        _int(&j, request_id)
        _lit(&j, ',"method":"order.place","params":{"symbol":"')
        _text(&j, &item.symbol)
        _lit(&j, '","side":"SELL","type":"' if side == SELL else '","side":"BUY","type":"')
        _text(&j, type_name)
        _lit(&j, '","quantity":"')
        if not _decimal(&j, qty, item.qty_digits, item.qty_step_units):
            return 0
        _lit(&j, '","newClientOrderId":"')
        _client_order_id(&j, &self.prefix, client_id)
        _lit(&j, '","newOrderRespType":"ACK","recvWindow":')
        _int(&j, self.recv_window_ms)
        _lit(&j, ',"timestamp":')
        _int(&j, timestamp_ms)
        if with_price:
            _lit(&j, ',"price":"')
            if not _decimal(&j, price, item.price_digits, item.price_step_units):
                return 0
            _put(&j, '"', 1)
        if tif_name.n:
            _lit(&j, ',"timeInForce":"')
            _text(&j, tif_name)
            _put(&j, '"', 1)
        if with_reduce:
            _lit(&j, ',"reduceOnly":"true"')
        if signed:
            # the signed payload: the parameters in name order (trading.binance.signing)
            self._open_payload(&p)
            _lit(&p, "&newClientOrderId=")
            _client_order_id(&p, &self.prefix, client_id)
            _lit(&p, "&newOrderRespType=ACK")
            if with_price:
                _lit(&p, "&price=")
                _decimal(&p, price, item.price_digits, item.price_step_units)
            _lit(&p, "&quantity=")
            _decimal(&p, qty, item.qty_digits, item.qty_step_units)
            _lit(&p, "&recvWindow=")
            _int(&p, self.recv_window_ms)
            if with_reduce:
                _lit(&p, "&reduceOnly=true")
            _lit(&p, "&side=SELL" if side == SELL else "&side=BUY")
            _lit(&p, "&symbol=")
            _text(&p, &item.symbol)
            if tif_name.n:
                _lit(&p, "&timeInForce=")
                _text(&p, tif_name)
            _lit(&p, "&timestamp=")
            _int(&p, timestamp_ms)
            _lit(&p, "&type=")
            _text(&p, type_name)
            return self._close_signed(&j, &p)
        return self._close(&j)

    cdef int _cancel(
        self, int64_t request_id, int index, int64_t client_id, int64_t timestamp_ms, bint signed
    ) noexcept nogil:
        cdef Buffer j, p
        cdef Instrument* item
        if client_id <= 0 or client_id >= CLIENT_LIMIT:
            return -1
        if not (0 <= index < MAX_INSTRUMENTS) or not self.instruments[index].known:
            return 0
        if signed and not self.has_key:
            return 0
        item = &self.instruments[index]
        j.p, j.n, j.cap, j.overflow = self.json, 0, JSON_MAX, False
        _lit(&j, '{"id":')
        _int(&j, request_id)
        _lit(&j, ',"method":"order.cancel","params":{"symbol":"')
        _text(&j, &item.symbol)
        _lit(&j, '","origClientOrderId":"')
        _client_order_id(&j, &self.prefix, client_id)
        _lit(&j, '","recvWindow":')
        _int(&j, self.recv_window_ms)
        _lit(&j, ',"timestamp":')
        _int(&j, timestamp_ms)
        if signed:
            self._open_payload(&p)
            _lit(&p, "&origClientOrderId=")
            _client_order_id(&p, &self.prefix, client_id)
            _lit(&p, "&recvWindow=")
            _int(&p, self.recv_window_ms)
            _lit(&p, "&symbol=")
            _text(&p, &item.symbol)
            _lit(&p, "&timestamp=")
            _int(&p, timestamp_ms)
            return self._close_signed(&j, &p)
        return self._close(&j)

    # ------------------------------------------------------------------ framing and writing

    cdef int _frame(self, int n) noexcept nogil:
        """self.json[:n] as one masked, final text frame in self.frame; its length, 0 if no mask."""
        cdef int h = 2, k
        cdef const uint8_t* mask
        cdef uint8_t* out
        if self.masks_left < 4:
            if getrandom(self.masks, MASK_POOL, 0) != MASK_POOL:
                return 0
            self.masks_left = MASK_POOL
        mask = self.masks + (MASK_POOL - self.masks_left)
        self.masks_left -= 4
        self.frame[0] = 0x81  # FIN, text
        if n < 126:
            self.frame[1] = <uint8_t>(0x80 | n)
        else:
            self.frame[1] = 0x80 | 126
            self.frame[2] = <uint8_t>(n >> 8)
            self.frame[3] = <uint8_t>(n & 0xFF)
            h = 4
        memcpy(self.frame + h, mask, 4)
        h += 4
        out = self.frame + h
        for k in range(n):
            out[k] = (<uint8_t>self.json[k]) ^ mask[k & 3]
        return h + n

    cdef object _write(self, int fd, int n):
        """Frame and send self.json[:n]; None if it all left, else the bytes still to be written."""
        cdef int length = self._frame(n)
        cdef ssize_t sent
        if length == 0:
            return DECLINED
        self.frame_length = length
        if fd < 0:
            return PyBytes_FromStringAndSize(<char*>self.frame, length)
        with nogil:
            sent = send(fd, self.frame, length, MSG_DONTWAIT | MSG_NOSIGNAL)
        self.send_errno = 0
        if sent == length:
            return None
        if sent < 0:
            if errno != EAGAIN and errno != EWOULDBLOCK and errno != EINTR:
                self.send_errno = errno  # the transport will meet it too and report the loss
            sent = 0
        return PyBytes_FromStringAndSize(<char*>self.frame + sent, length - sent)

    def place_json(
        self, int64_t request_id, int index, int64_t client_id, int side, int64_t order_type, int64_t tif,
        int64_t price, int64_t qty, bint reduce_only, int64_t timestamp_ms, bint signed=True,
    ):
        """The order.place request (UTF-8 JSON bytes), or DECLINED; ValueError if malformed."""
        cdef int n = self._place(request_id, index, client_id, side, order_type, tif, price, qty,
                                 reduce_only, timestamp_ms, signed)
        if n < 0:
            raise ValueError("an order needs a positive quantity, a positive price (unless MARKET) and a client id in range")
        return DECLINED if n == 0 else PyBytes_FromStringAndSize(self.json, n)

    def cancel_json(self, int64_t request_id, int index, int64_t client_id, int64_t timestamp_ms, bint signed=True):
        cdef int n = self._cancel(request_id, index, client_id, timestamp_ms, signed)
        if n < 0:
            raise ValueError(f"client id {client_id} out of range")
        return DECLINED if n == 0 else PyBytes_FromStringAndSize(self.json, n)

    def send_place(
        self, int fd, int64_t request_id, int index, int64_t client_id, int side, int64_t order_type,
        int64_t tif, int64_t price, int64_t qty, bint reduce_only, int64_t timestamp_ms, bint signed,
    ):
        """Build, sign, frame and send() an order.place on socket `fd` (-1: frame only).

        None: the whole frame left. bytes: what is left to write (the socket buffer was full; the
        caller hands it to the transport, whose buffer was empty, so the order of bytes holds).
        DECLINED: nothing was done, take the Python path. ValueError: a malformed order."""
        cdef int n = self._place(request_id, index, client_id, side, order_type, tif, price, qty,
                                 reduce_only, timestamp_ms, signed)
        if n < 0:
            raise ValueError("an order needs a positive quantity, a positive price (unless MARKET) and a client id in range")
        if n == 0:
            return DECLINED
        return self._write(fd, n)

    def send_cancel(self, int fd, int64_t request_id, int index, int64_t client_id, int64_t timestamp_ms, bint signed):
        """As send_place, for order.cancel."""
        cdef int n = self._cancel(request_id, index, client_id, timestamp_ms, signed)
        if n < 0:
            raise ValueError(f"client id {client_id} out of range")
        if n == 0:
            return DECLINED
        return self._write(fd, n)
