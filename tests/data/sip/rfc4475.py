# ruff: noqa: E501  (test data: message lines are kept as the RFC shows them)
"""The RFC 4475 SIP torture test messages (RFC 4475 §3), written out from the RFC text.

Each entry: name (the RFC's file name) -> (section, expected, bytes). `expected` is what the
RFC says a receiver should conclude: "valid" (well-formed, must parse) or "invalid"
(malformed or semantically unacceptable: reject with a 4xx or drop). Line ends are CRLF;
"{CL}" in a header is replaced by the real body length. Non-printable bytes are escaped.
"""

from __future__ import annotations

SDP = (
    "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.3\r\ns=-\r\nc=IN IP4 192.0.2.4\r\n"
    "t=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n"
)
SDP_SHORT = "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0\r\n"


def _m(head: str, body: str | bytes = "", cl: str | None = None) -> bytes:
    b = body.encode("latin-1") if isinstance(body, str) else body
    h = head.replace("{CL}", cl if cl is not None else str(len(b)))
    return h.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + b


LONG = "amazinglylongcallid" * 0 + "longreq.one" + "really" * 30 + "longcallid"
R = "very" * 10  # a 40-character run used in the long tokens

MESSAGES: dict[str, tuple[str, str, bytes]] = {
    # 3.1.1 Valid messages
    "wsinv": ("3.1.1.1", "valid", _m(
        "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\n"
        "TO :\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\n"
        'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\n  ;\n  tag = 98asjd8\n'
        "MaX-fOrWaRdS: 0068\nCall-ID: wsinv.ndaksdj@192.0.2.1\nContent-Length   : {CL}\n"
        "cseq: 0009\n  INVITE\nVia  : SIP  /   2.0\n /UDP\n    192.0.2.2;rport;branch=390skdjuw\ns :\n"
        "NewFangledHeader:   newfangled value\n continued newfangled value\n"
        "UnknownHeaderWithUnusualValue: ;;,,;;,;\nContent-Type: application/sdp\n"
        "Route:\n <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\n"
        "v:  SIP  / 2.0  / TCP     spindle.example.com   ;\n  branch  =   z9hG4bK9ikj8  ,\n"
        " SIP  /    2.0   / UDP  192.168.255.111   ; branch=\n z9hG4bK30239\n"
        'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =\n      newvalue ;\n'
        "  secondparam ; q = 0.33\n", SDP_SHORT)),
    "intmeth": ("3.1.1.2", "valid", _m(
        "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:"
        "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\n"
        "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n"
        'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:1_unusual.URI~(to-be!sure)&isn\'t+it$/crazy?,/;;*@example.com>\n'
        "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%="
        '"\xd1\x80\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x82\xd0\xb0\xd1\x8e\xd1\x89\xd0\xb8\xd0\xb9";tag=_token~1\'+`*%!-.\n'
        "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\nCSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\n"
        "Max-Forwards: 255\nextensionHeader-!.%*+_`'~:\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb\n"
        "Content-Length: {CL}\n")),
    "esc01": ("3.1.1.3", "valid", _m(
        "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\nTo: sip:%75se%72@example.com\n"
        "From: <sip:I%20have%20spaces@example.net>;tag=938\nMax-Forwards: 87\ni: esc01.239409asdfakjkn23onasd0-3234\n"
        "CSeq: 234234 INVITE\nVia: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\n"
        "C: application/sdp\nContact:\n  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\n"
        "Content-Length: {CL}\n", SDP_SHORT)),
    "escnull": ("3.1.1.4", "valid", _m(
        "REGISTER sip:example.com SIP/2.0\nTo: sip:null-%00-null@example.com\n"
        "From: sip:null-%00-null@example.com;tag=839923423\nMax-Forwards: 70\n"
        "Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd\nCSeq: 14398234 REGISTER\n"
        "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\nContact: <sip:%00@host5.example.com>\n"
        "Contact: <sip:%00%00@host5.example.com>\nL:0\n")),
    "esc02": ("3.1.1.5", "valid", _m(
        "RE%47IST%45R sip:registrar.example.com SIP/2.0\nTo: \"%Z%45\" <sip:resource@example.com>\n"
        "From: \"%Z%45\" <sip:resource@example.com>;tag=f232jadfj23\n"
        "Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf\nVia: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234\n"
        "CSeq: 29344 RE%47IST%45R\nMax-Forwards: 70\nContact: <sip:alias1@host1.example.com>\n"
        "C%6Fntact: <sip:alias2@host2.example.com>\nContact: <sip:alias3@host3.example.com>\nl: 0\n")),
    "lwsdisp": ("3.1.1.6", "valid", _m(
        "OPTIONS sip:user@example.com SIP/2.0\nTo: sip:user@example.com\n"
        "From: caller<sip:caller@example.com>;tag=323\nMax-Forwards: 70\n"
        "Call-ID: lwsdisp.1234abcd@funky.example.com\nCSeq: 60 OPTIONS\n"
        "Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw\nl: 0\n")),
    "longreq": ("3.1.1.7", "valid", _m(
        f"INVITE sip:user@example.com SIP/2.0\nTo: \"I have a user name of {'extreme' * 10} proportion\"<sip:user@example.com:6000;unknownparam1=very{R}longvalue;longparam{R}name=shortvalue;very{R}longParameterNameWithNoValue>\n"
        f"F: sip:{'amazinglylongcallername' * 4}@example.net;tag=12{'982' * 30}424;unknownheaderparam{R}name=unknowheaderparam{R}value;unknownValueless{R}paramname\n"
        f"Call-ID: longreq.one{R}{R}\nCSeq: 3882340 INVITE\n"
        f"Unknown-{R}-Long-Name: unknown-{R}-long-value; unknown-{R}-long-parameter-name = unknown-{R}-long-parameter-value\n"
        + "".join(f"Via: SIP/2.0/TCP sip{i}.example.com;branch=z9hG4bK{R}{i}\n" for i in range(1, 34))
        + f"Max-Forwards: 70\nContact: <sip:{'amazinglylongcallername' * 4}@host5.example.net>\n"
        "Content-Type: application/sdp\nl: {CL}\n", SDP_SHORT)),
    "dblreq": ("3.1.1.8", "valid", _m(
        "REGISTER sip:example.com SIP/2.0\nTo: sip:j.user@example.com\nFrom: sip:j.user@example.com;tag=43251j3j324\n"
        "Max-Forwards: 8\nI: dblreq.0ha0isndaksdj99sdfafnl3lk233412\nContact: sip:j.user@host.example.com\n"
        "CSeq: 8 REGISTER\nVia: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492\nContent-Length: 0\n\n"
        "INVITE sip:joe@example.com SIP/2.0\nt: sip:joe@example.com\nFrom: sip:caller@example.net;tag=141334\n"
        "Max-Forwards: 8\nCall-ID: dblreq.0ha0isnda977644900765@192.0.2.15\nCSeq: 8 INVITE\n"
        "Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234\nContent-Type: application/sdp\n"
        "Content-Length: 150\n", SDP_SHORT)),
    "semiuri": ("3.1.1.9", "valid", _m(
        "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0\nTo: sip:j_user@example.com\n"
        "From: sip:caller@example.org;tag=33242\nMax-Forwards: 3\nCall-ID: semiuri.0ha0isndaksdj\nCSeq: 8 OPTIONS\n"
        "Accept: application/sdp, application/pkcs7-mime,\n        multipart/mixed, multipart/signed,\n"
        "        message/sip, message/sipfrag\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\nl: 0\n")),
    "transports": ("3.1.1.10", "valid", _m(
        "OPTIONS sip:user@example.com SIP/2.0\nTo: sip:user@example.com\nFrom: <sip:caller@example.com>;tag=323\n"
        "Max-Forwards: 70\nCall-ID:  transports.kijh4akdnaqjkwendsasfdj\nAccept: application/sdp\nCSeq: 60 OPTIONS\n"
        "Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw\nVia: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf\n"
        "Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj\nVia: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en\n"
        "Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee\nl: 0\n")),
    "mpart01": ("3.1.1.11", "valid", _m(
        "MESSAGE sip:kumiko@example.org SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport\n"
        "Max-Forwards: 70\nRoute: <sip:127.0.0.1:5080>\nIdentity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuL\n"
        "Identity-Info: <https://example.com/cert>;alg=rsa-sha1\nContact: <sip:fluffy@127.0.0.1:5070>\n"
        "To: <sip:kumiko@example.org>\nFrom: <sip:fluffy@example.com>;tag=2fb0dcc9\n"
        "Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..\nCSeq: 1 MESSAGE\n"
        "Content-Transfer-Encoding: binary\nContent-Type: multipart/mixed;boundary=7a9cbec02ceef655\n"
        "Date: Sat, 15 Oct 2005 04:44:56 GMT\nUser-Agent: SIPimp.org/0.2.5 (curses)\nContent-Length: {CL}\n",
        b"--7a9cbec02ceef655\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\nHello\r\n"
        b"--7a9cbec02ceef655\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        b"0\x82\x01R\x06\t*\x86H\x86\xf7\r\x01\x07\x02\xa0\x82\x01C0\x82\x01?\x02\x01\x011\t0\x07\x06\x05+\x0e\x03\x02\x1a"
        b"\x00\x0b\r\n--7a9cbec02ceef655--\r\n")),
    "unreason": ("3.1.1.12", "valid", _m(
        "SIP/2.0 200 = 2**3 * 5**2 \xd0\xbd\xd0\xbe \xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f\xd0\xbd\xd0\xbe"
        "\xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f\xd1\x82\xd1\x8c - \xd0\xbf\xd1\x80\xd0\xbe\xd1\x81\xd1\x82"
        "\xd0\xbe\xd0\xb5\n"
        "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\nCall-ID: unreason.1234ksdfak3j2erwedfsASdf\n"
        "CSeq: 35 INVITE\nFrom: sip:user@example.com;tag=11141343\nTo: sip:user@example.edu;tag=2229\n"
        "Content-Length: {CL}\nContent-Type: application/sdp\nContact: <sip:user@host198.example.com>\n", SDP_SHORT)),
    "noreason": ("3.1.1.13", "valid", _m(
        "SIP/2.0 100 \nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\n"
        "Call-ID: noreason.asndj203insdf99223ndf\nCSeq: 35 INVITE\nFrom: <sip:user@example.com>;tag=39ansfi3\n"
        "To: <sip:user@example.edu>;tag=902jndnke3\nContent-Length: 0\nContact: <sip:user@host105.example.com>\n")),
    # 3.1.2 Invalid messages
    "badinv01": ("3.1.2.1", "invalid", _m(
        "INVITE sip:user@example.com SIP/2.0\nTo: sip:j.user@example.com\nFrom: sip:caller@example.net;;tag=134161461246\n"
        "Max-Forwards: 7\nCall-ID: badinv01.0ha0isndaksdjasdf3234nas\nCSeq: 8 INVITE\n"
        "Via: SIP/2.0/UDP 192.0.2.15;;,;,,\nContact: \"Joe\" <sip:joe@example.org>;;;;\n"
        "Content-Length: {CL}\nContent-Type: application/sdp\n", SDP_SHORT)),
    "clerr": ("3.1.2.2", "invalid", _m(
        "INVITE sip:user@example.com SIP/2.0\nMax-Forwards: 80\nTo: sip:j.user@example.com\n"
        "From: sip:caller@example.net;tag=93942939o2\nContact: <sip:caller@hungry.example.net>\n"
        "Call-ID: clerr.0ha0isndaksdjweiafasdk3\nCSeq: 8 INVITE\nVia: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523\n"
        "Content-Type: application/sdp\nContent-Length: 9999\n", SDP_SHORT)),
    "ncl": ("3.1.2.3", "invalid", _m(
        "INVITE sip:user@example.com SIP/2.0\nMax-Forwards: 254\nTo: sip:j.user@example.com\n"
        "From: sip:caller@example.net;tag=32394234\nCall-ID: ncl.0ha0isndaksdj2193423r542w35\nCSeq: 0 INVITE\n"
        "Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw\nContact: <sip:caller@example53.example.net>\n"
        "Content-Type: application/sdp\nContent-Length: -999\n", SDP_SHORT)),
    "scalar02": ("3.1.2.4", "invalid", _m(
        "REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3\n"
        "To: <sip:user@example.com>\nFrom: <sip:user@example.com>;tag=239232jh3\nCSeq: 36893488147419103232 REGISTER\n"
        "Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32\nMax-Forwards: 300\n"
        "Expires: 1" + "0" * 40 + "\nContact: <sip:user@host129.example.com>\n  ;expires=280297596632815\nContent-Length: 0\n")),
    "scalarlg": ("3.1.2.5", "invalid", _m(
        "SIP/2.0 503 Service Unavailable\nVia: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129\n"
        "To: <sip:user@example.com>\nFrom: <sip:other@example.net>;tag=2easdjfejw\nCSeq: 9292394834772304023312 OPTIONS\n"
        "Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r\nRetry-After: 949302838503028349304023988\n"
        "Warning: 1812 overture \"In Progress\"\nContent-Length: 0\n")),
    "quotbal": ("3.1.2.6", "invalid", _m(
        "INVITE sip:user@example.com SIP/2.0\nTo: \"Mr. J. User <sip:j.user@example.com>\n"
        "From: sip:caller@example.net;tag=93334\nMax-Forwards: 10\nCall-ID: quotbal.aksdj\nContact: <sip:caller@host59.example.net>\n"
        "CSeq: 8 INVITE\nVia: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234\nContent-Type: application/sdp\n"
        "Content-Length: {CL}\n", SDP_SHORT)),
    "ltgtruri": ("3.1.2.7", "invalid", _m(
        "INVITE <sip:user@example.com> SIP/2.0\nTo: sip:user@example.com\nFrom: sip:caller@example.net;tag=39291\n"
        "Max-Forwards: 23\nCall-ID: ltgtruri.1@192.0.2.5\nCSeq: 1 INVITE\nVia: SIP/2.0/UDP 192.0.2.5\n"
        "Contact: <sip:caller@host5.example.net>\nContent-Type: application/sdp\nContent-Length: {CL}\n", SDP_SHORT)),
    "lwsruri": ("3.1.2.8", "invalid", _m(
        "INVITE sip:user@example.com; lr SIP/2.0\nTo: sip:user@example.com;tag=3xfe-9921883-z9f\n"
        "From: sip:caller@example.net;tag=231413434\nMax-Forwards: 5\nCall-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423\n"
        "CSeq: 2130706432 INVITE\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395\n"
        "Contact: <sip:caller@host1.example.net>\nContent-Type: application/sdp\nContent-Length: {CL}\n", SDP_SHORT)),
    "lwsstart": ("3.1.2.9", "invalid", _m(
        "INVITE  sip:user@example.com  SIP/2.0\nMax-Forwards: 8\nTo: sip:user@example.com\n"
        "From: sip:caller@example.net;tag=8814\nCall-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com\nCSeq: 1893884 INVITE\n"
        "Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923\nContact: <sip:caller@host1.example.net>\n"
        "Content-Type: application/sdp\nContent-Length: {CL}\n", SDP_SHORT)),
    "trws": ("3.1.2.10", "invalid", _m(
        "OPTIONS sip:remote-target@example.com SIP/2.0  \nVia: SIP/2.0/TCP host1.example.com;branch=z9hG4bK299342093\n"
        "To: <sip:remote-target@example.com>\nFrom: <sip:local-resource@example.com>;tag=329429089\n"
        "Call-ID: trws.oicu34958239neffasdhr2345r\nAccept: application/sdp\nCSeq: 238923 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n")),
    "escruri": ("3.1.2.11", "invalid", _m(
        "INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0\nTo: sip:user@example.com\n"
        "From: sip:caller@example.net;tag=341518\nMax-Forwards: 7\nContact: <sip:caller@host39923.example.net>\n"
        "Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5\nCSeq: 149209342 INVITE\n"
        "Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw\nContent-Type: application/sdp\n"
        "Content-Length: {CL}\n", SDP_SHORT)),
    "baddate": ("3.1.2.12", "invalid", _m(
        "INVITE sip:user@example.com SIP/2.0\nTo: sip:user@example.com\nFrom: sip:caller@example.net;tag=2234923\n"
        "Max-Forwards: 70\nCall-ID: baddate.239423mnsadf3j23lj42--sedfnm234\nCSeq: 1392934 INVITE\n"
        "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\nDate: Fri, 01 Jan 2010 16:00:00 EST\n"
        "Contact: <sip:caller@host5.example.net>\nContent-Type: application/sdp\nContent-Length: {CL}\n", SDP_SHORT)),
    "regbadct": ("3.1.2.13", "invalid", _m(
        "REGISTER sip:example.com SIP/2.0\nTo: sip:user@example.com\nFrom: sip:user@example.com;tag=998332\n"
        "Max-Forwards: 70\nCall-ID: regbadct.k345asrl3fdbv@10.0.0.1\nCSeq: 1 REGISTER\n"
        "Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw\nContact: sip:user@example.com?Route=%3Csip:sip.example.com%3E\nl: 0\n")),
    "badaspec": ("3.1.2.14", "invalid", _m(
        "OPTIONS sip:user@example.org SIP/2.0\nVia: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234\n"
        "Max-Forwards: 70\nFrom: \"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423\n"
        "To: \"Watson, Thomas\" < sip:t.watson@example.org >\nCall-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3\n"
        "Accept: application/sdp\nCSeq: 3923239 OPTIONS\nl: 0\n")),
    "baddn": ("3.1.2.15", "invalid", _m(
        "OPTIONS sip:t.watson@example.org SIP/2.0\nVia:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw\n"
        "Max-Forwards:      70\nFrom:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43\n"
        "To:      Watson, Thomas <sip:t.watson@example.org>\nCall-ID: baddn.31415@c.example.com\n"
        "Accept: application/sdp\nCSeq:    3923239 OPTIONS\nl: 0\n")),
    "badvers": ("3.1.2.16", "invalid", _m(
        "OPTIONS sip:t.watson@example.org SIP/7.0\nVia:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\n"
        "Max-Forwards:     70\nFrom:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe\n"
        "To:      T. Watson <sip:t.watson@example.org>\nCall-ID: badvers.31417@c.example.com\nCSeq:    1 OPTIONS\nl: 0\n")),
    "mismatch01": ("3.1.2.17", "invalid", _m(
        "OPTIONS sip:user@example.com SIP/2.0\nTo: sip:j.user@example.com\nFrom: sip:caller@example.net;tag=34525\n"
        "Max-Forwards: 6\nCall-ID: mismatch01.dj0234sxdfl3\nCSeq: 8 INVITE\n"
        "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\nl: 0\n")),
    "mismatch02": ("3.1.2.18", "invalid", _m(
        "NEWMETHOD sip:user@example.com SIP/2.0\nTo: sip:j.user@example.com\nFrom: sip:caller@example.net;tag=34525\n"
        "Max-Forwards: 6\nCall-ID: mismatch02.dj0234sxdfl3\nCSeq: 8 INVITE\nContact: <sip:caller@host.example.net>\n"
        "Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw\nContent-Type: application/sdp\nl: {CL}\n", SDP_SHORT)),
    "bigcode": ("3.1.2.19", "invalid", _m(
        "SIP/2.0 4294967301 better not break the receiver\nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\n"
        "Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\nCSeq: 353494 INVITE\n"
        "From: <sip:user@example.com>;tag=39ansfi3\nTo: <sip:user@example.edu>;tag=902jndnke3\n"
        "Content-Length: 0\nContact: <sip:user@host105.example.com>\n")),
    # 3.2 Transaction layer semantics
    "badbranch": ("3.2.1", "valid", _m(
        "OPTIONS sip:user@example.com SIP/2.0\nTo: sip:user@example.com\nFrom: sip:caller@example.org;tag=33242\n"
        "Max-Forwards: 3\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK\nAccept: application/sdp\n"
        "Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n\nCSeq: 8 OPTIONS\nl: 0\n")),
    # 3.3 Application layer semantics
    "insuf": ("3.3.1", "invalid", _m(
        "INVITE sip:user@example.com SIP/2.0\nCSeq: 193942 INVITE\nVia: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\n"
        "Content-Type: application/sdp\nl: {CL}\n", SDP_SHORT)),
    "unkscm": ("3.3.2", "invalid", _m(
        "OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0\nTo: sip:user@example.com\n"
        "From: sip:caller@example.net;tag=384\nMax-Forwards: 3\nCall-ID: unkscm.nasdfasser0q239nwsdfasdkl34\n"
        "CSeq: 3923423 OPTIONS\nVia: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\nContent-Length: 0\n")),
    "novelsc": ("3.3.3", "invalid", _m(
        "OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\nTo: sip:user@example.com\nFrom: sip:caller@example.net;tag=384\n"
        "Max-Forwards: 3\nCall-ID: novelsc.asdfasser0q239nwsdfasdkl34\nCSeq: 3923423 OPTIONS\n"
        "Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\nContent-Length: 0\n")),
    "unksm2": ("3.3.4", "valid", _m(
        "REGISTER sip:example.com SIP/2.0\nTo: isbn:2983792873\nFrom: <http://www.example.com>;tag=3234233\n"
        "Call-ID: unksm2.daksdj@hyphenated-host.example.com\nCSeq: 234902 REGISTER\nMax-Forwards: 70\n"
        "Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw\nContact: <name:John_Smith>\nl: 0\n")),
    "bext01": ("3.3.5", "valid", _m(
        "OPTIONS sip:user@example.com SIP/2.0\nTo: sip:j_user@example.com\nFrom: sip:caller@example.net;tag=242etr\n"
        "Max-Forwards: 6\nCall-ID: bext01.0ha0isndaksdj\nRequire: nothingSupportsThis, nothingSupportsThisEither\n"
        "Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis\nCSeq: 8 OPTIONS\n"
        "Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw\nContent-Length: 0\n")),
    "invut": ("3.3.6", "valid", _m(
        "INVITE sip:user@example.com SIP/2.0\nContact: <sip:caller@host5.example.net>\nTo: sip:j.user@example.com\n"
        "From: sip:caller@example.net;tag=8392034\nMax-Forwards: 70\nCall-ID: invut.0ha0isndaksdjadsfij34n23d\n"
        "CSeq: 235448 INVITE\nVia: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw\n"
        "Content-Type: application/unknownformat\nContent-Length: {CL}\n",
        "<audio>\r\n <pcmu port=\"443\"/>\r\n</audio>\r\n")),
    "regaut01": ("3.3.7", "valid", _m(
        "REGISTER sip:example.com SIP/2.0\nTo: sip:j.user@example.com\nFrom: sip:j.user@example.com;tag=87321hj23128\n"
        "Max-Forwards: 8\nCall-ID: regaut01.0ha0isndaksdj\nCSeq: 9338 REGISTER\n"
        "Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw\nAuthorization: NoOneKnowsThisScheme opaque-data=here\n"
        "Content-Length:0\n")),
    "multi01": ("3.3.8", "invalid", _m(
        "INVITE sip:user@company.com SIP/2.0\nContact: <sip:caller@host25.example.net>\n"
        "Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw\nMax-Forwards: 70\n"
        "CSeq: 5 INVITE\nCall-ID: multi01.98asdh@192.0.2.1\nCSeq: 59 INVITE\nCall-ID: multi01.98asdh@192.0.2.2\n"
        "From: sip:caller@example.com;tag=3413415\nTo: sip:user@example.com\nTo: sip:other@example.net\n"
        "From: sip:caller@example.net;tag=2923420123\nContent-Type: application/sdp\nl: {CL}\n"
        "Contact: <sip:caller@host36.example.net>\nMax-Forwards: 5\n", SDP_SHORT)),
    "mcl01": ("3.3.9", "invalid", _m(
        "OPTIONS sip:user@example.com SIP/2.0\nVia: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423\n"
        "To: sip:user@example.com\nFrom: sip:other@example.net;tag=3923942\nCall-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf\n"
        "CSeq: 15932 OPTIONS\nContent-Length: 13\nMax-Forwards: 60\nContent-Length: 5\nContent-Type: text/plain\n",
        "There's no way to know how many octets are supposed to be here.\r\n")),
    "bcast": ("3.3.10", "valid", _m(
        "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\n"
        "Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23\nCall-ID: bcast.0384840201234ksdfak3j2erwedfsASdf\n"
        "CSeq: 35 INVITE\nFrom: sip:user@example.com;tag=11141343\nTo: sip:user@example.edu;tag=2229\n"
        "Content-Length: {CL}\nContent-Type: application/sdp\nContact: <sip:user@host28.example.com>\n", SDP_SHORT)),
    "zeromf": ("3.3.11", "valid", _m(
        "OPTIONS sip:user@example.com SIP/2.0\nTo: sip:user@example.com\nFrom: sip:caller@example.net;tag=3ghsd41\n"
        "Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas\nCSeq: 39234321 OPTIONS\n"
        "Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i\nMax-Forwards: 0\nContent-Length: 0\n")),
    "cparam01": ("3.3.12", "valid", _m(
        "REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\n"
        "Max-Forwards: 70\nFrom: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe\nTo: sip:watson@example.com\n"
        "Call-ID: cparam01.70710@saturn.example.com\nCSeq: 2 REGISTER\nContact: sip:+19725552222@gw1.example.net;unknownparam\nl: 0\n")),
    "cparam02": ("3.3.13", "valid", _m(
        "REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\n"
        "Max-Forwards: 70\nFrom: sip:watson@example.com;tag=838293\nTo: sip:watson@example.com\n"
        "Call-ID: cparam02.70710@saturn.example.com\nCSeq: 3 REGISTER\nContact: <sip:+19725552222@gw1.example.net;unknownparam>\nl: 0\n")),
    "regescrt": ("3.3.14", "invalid", _m(
        "REGISTER sip:example.com SIP/2.0\nTo: sip:user@example.com\nFrom: sip:user@example.com;tag=8\n"
        "Max-Forwards: 70\nCall-ID: regescrt.k345asrl3fdbv@192.0.2.1\nCSeq: 14398234 REGISTER\n"
        "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\nM: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>\nL:0\n")),
    "sdp01": ("3.3.15", "valid", _m(
        "INVITE sip:user@example.com SIP/2.0\nTo: sip:j_user@example.com\nContact: <sip:caller@host15.example.net>\n"
        "From: sip:caller@example.net;tag=234\nMax-Forwards: 5\nCall-ID: sdp01.ndaksdj9342dasdd\nAccept: text/nobodyKnowsThis\n"
        "CSeq: 8 INVITE\nVia: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw\nContent-Length: {CL}\nContent-Type: application/sdp\n",
        SDP_SHORT)),
    # 3.4 Backward compatibility
    "inv2543": ("3.4.1", "valid", _m(
        "INVITE sip:UserB@example.com SIP/2.0\nVia: SIP/2.0/UDP iftgw.example.com\nFrom: <sip:+13035551111@ift.client.example.net;user=phone>\n"
        "Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>\nTo: sip:+16505552222@ss1.example.net;user=phone\n"
        "Call-ID: inv2543.1717@ift.client.example.com\nCSeq: 56 INVITE\nContent-Type: application/sdp\n\n",
        SDP_SHORT)),
}
