/* catalogue: the words for every reply, class and error; one table. */
#include "catalogue.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/*
 * The single source of the agent's explanations. Keys:
 *   "NNN@stage"  a reply code at one stage (greeting, ehlo, starttls,
 *                auth, quit): what it means there;
 *   "NNN"        a 4xx or 5xx code at any stage without its own entry
 *                (2xx and 3xx have none: they are only right at one
 *                stage and "unexpected" anywhere else);
 *   a class name, an error name, an RFC 3463 enhanced code,
 *   "probe_failed" (a failure at any stage, quoted by SMTPProbeFailing),
 *   "no_mechanism" (Postfix's 535 to a mechanism it does not offer),
 *   "token" (stage token: no bearer token to send);
 *   "NNN d.d.d"  a reply code with its enhanced code, where a hosted
 *                provider (Microsoft 365, Gmail) gives that pair a
 *                meaning of its own: it goes before the code's entry
 *                (a pair that other servers send too only with the
 *                provider's words in the reply: pair_words[]).
 * Texts are plain ASCII sentences ending in a period; titles are short
 * lines without one. The alert rules in config/alerts.yml quote some of
 * these sentences word for word (tests/integration/test_rules.py checks
 * it): change both together.
 */
static const struct catalogue_entry entries[] = {
    /* ---- the greeting --------------------------------------------- */
    {"220@greeting", "Service ready",
     "The server greets the client and is ready for EHLO.",
     "Seen at the start of every healthy session.", "Nothing to do.", NULL},
    {"421@greeting", "Service not available",
     "The server refuses new sessions for now and closes the connection "
     "instead of greeting (421, often with 4.3.2 or 4.7.0).",
     "Seen while the server shuts down or restarts, when it is overloaded "
     "or over a connection limit, or when a rate limit or postscreen "
     "defers this client.",
     "Check the server's load, its connection and rate limits and its log "
     "for the agent's address; after a restart it clears by itself.",
     "421 is temporary and the next probe may get through; 554 at the "
     "greeting is a permanent refusal of this client."},
    {"554@greeting", "No SMTP service for this client",
     "The server refuses to talk to this client at all: 554 instead of 220 "
     "at the greeting.",
     "Seen when the agent's address is on a blocklist or outside the "
     "server's access rules, or when the server is set to accept no "
     "connections.",
     "Check the server's client access rules and blocklists for the "
     "agent's address (Postfix smtpd_client_restrictions, postscreen) and "
     "the server's log.",
     "554 refuses this client for good; 421 only defers it."},

    /* ---- EHLO ------------------------------------------------------ */
    {"250@ehlo", "EHLO accepted",
     "The server accepted EHLO and listed its extensions (STARTTLS, the "
     "AUTH mechanisms, SIZE and others).",
     "Seen in every healthy session, once before STARTTLS and once after "
     "it.",
     "Nothing to do; the status page lists the advertised keywords and "
     "mechanisms.",
     NULL},
    {"421@ehlo", "Closing at EHLO",
     "The server accepted the connection but closes it at EHLO and will "
     "not do anything more now (421).",
     "Seen when the server shuts down, is overloaded, or rate-limits this "
     "client after the greeting.",
     "Check the server's load, connection and rate limits and its log for "
     "the agent's address; a single 421 during a restart needs nothing.",
     NULL},
    {"500@ehlo", "EHLO not recognised",
     "The server does not know EHLO: it speaks only the old SMTP of HELO, "
     "so it offers neither STARTTLS nor AUTH.",
     "Seen with very old or minimal SMTP servers, or with a device that "
     "answers on the server's behalf.",
     "Point the target at a server or port that speaks ESMTP; STARTTLS and "
     "AUTH need it.",
     NULL},
    {"501@ehlo", "EHLO name refused",
     "The server refused the argument of EHLO: the name the agent "
     "announced is not a valid domain name or address literal for it.",
     "Seen when ehlo_name is malformed, or when the server's HELO "
     "restrictions demand a name that resolves.",
     "Set the target's ehlo_name to a fully qualified domain name that "
     "resolves, such as the agent host's own name.",
     NULL},
    {"502@ehlo", "EHLO not implemented",
     "The server recognises EHLO but does not implement it, which RFC 5321 "
     "allows only for old servers, so it offers no extensions.",
     "Seen with old or minimal SMTP servers and some appliances.",
     "Point the target at a server or port that speaks ESMTP; STARTTLS and "
     "AUTH need it.",
     NULL},
    {"504@ehlo", "EHLO parameter not implemented",
     "The server does not implement something in the EHLO command; RFC "
     "5321 allows 504 here only in obscure cases.",
     "Seen rarely, with servers that restrict the form of the EHLO name.",
     "Set ehlo_name to a plain fully qualified domain name and check the "
     "server's HELO restrictions.",
     NULL},
    {"550@ehlo", "EHLO refused by policy",
     "The server refused EHLO by policy, so the session cannot go on.",
     "Seen when the EHLO name or the agent's address is rejected by the "
     "server's HELO or client restrictions.",
     "Check the server's HELO and client restrictions and its log, and use "
     "an ehlo_name that the server accepts.",
     NULL},

    /* ---- STARTTLS (RFC 3207) --------------------------------------- */
    {"220@starttls", "Ready to start TLS",
     "The server accepted STARTTLS; the TLS handshake comes next.",
     "Seen in every healthy STARTTLS session.", "Nothing to do.", NULL},
    {"454@starttls", "TLS not available",
     "The server offers STARTTLS but cannot start TLS now (RFC 3207 454), "
     "usually because it cannot load its certificate or key.",
     "Seen after a certificate renewal with wrong file names or "
     "permissions, or when the server's TLS library fails.",
     "Check the server's log for the TLS error and its certificate and key "
     "files (readable by the server, matching each other).",
     "454 to STARTTLS is a TLS problem of the server; 454 to AUTH is a "
     "problem of its authentication backend; the error "
     "starttls_unavailable means STARTTLS was not offered at all."},
    {"501@starttls", "STARTTLS refused as malformed",
     "The server refused STARTTLS as a syntax error; STARTTLS takes no "
     "parameters (RFC 3207 501).",
     "Seen only with broken servers or with a proxy that rewrites SMTP, "
     "since the agent sends a bare STARTTLS.",
     "Test STARTTLS by hand (openssl s_client -starttls smtp) and look for "
     "a proxy or filter between the agent and the server.",
     NULL},
    {"502@starttls", "STARTTLS not implemented",
     "The server does not implement STARTTLS on this service.",
     "Seen when TLS is switched off on the server or the port is a plain "
     "relay without TLS.",
     "Enable TLS on the server (a certificate and key, Postfix "
     "smtpd_tls_security_level = may), or probe the port that has it.",
     NULL},
    {"503@starttls", "STARTTLS out of sequence",
     "The server will not start TLS at this point of the dialogue, "
     "typically because TLS is already active on the connection.",
     "Seen with a proxy that has already started TLS, or with a server "
     "that wants EHLO again first.",
     "Test the dialogue by hand (openssl s_client -starttls smtp) and "
     "check what sits between the agent and the server.",
     NULL},

    /* ---- AUTH (RFC 4954) ------------------------------------------- */
    {"235@auth", "Authenticated",
     "Authentication succeeded: the server now accepts mail commands from "
     "this session as the probe account.",
     "Seen on every healthy AUTH.", "Nothing to do.", NULL},
    {"334@auth", "SASL challenge where a final reply was due",
     "The server asked for more SASL data (334) although the exchange was "
     "complete on the agent's side, so no final reply came.",
     "Seen when client and server disagree on a mechanism's steps, or "
     "with a broken SASL backend that keeps challenging.",
     "Try another mechanism that the server advertises and check the "
     "server's SASL settings for this one.",
     NULL},
    {"432@auth", "Password transition needed",
     "The server wants the account to log in once with PLAIN before it "
     "can use the mechanism tried (RFC 4954 432 4.7.12).",
     "Seen with CRAM-MD5 and other shared-secret mechanisms when the "
     "server holds no usable secret for the user yet.",
     "Log in once with PLAIN over TLS as this account (or add PLAIN to the "
     "target's mechanisms); the mechanism then works in later sessions.",
     "432 asks for one PLAIN login first; 535 refuses the credentials; "
     "454 is a backend that could not check them."},
    {"454@auth", "Temporary authentication failure",
     "The server could not check the credentials because its "
     "authentication backend failed for the moment (RFC 4954 454 4.7.0); "
     "the password itself was not judged.",
     "Seen when saslauthd, Dovecot auth or the LDAP or SQL server behind "
     "it is down, slow or unreachable from the mail server.",
     "Check first the server's authentication backend and its connection "
     "from the mail server, then the mail server's log around the 454; do "
     "not change the password.",
     "454 means the server could not check the password, so the same "
     "login may work later; 535 means it checked and refused it; 432 means "
     "the account needs a password transition; 454 to STARTTLS is a TLS "
     "problem, not an authentication one."},
    {"500@auth", "AUTH line too long or not recognised",
     "The server rejected the AUTH exchange as unparseable: a SASL "
     "response longer than it accepts (RFC 4954 500 5.5.6), or AUTH "
     "unknown to it.",
     "Seen with long XOAUTH2 tokens and small server buffers, or with "
     "servers without SMTP AUTH.",
     "Check that the server advertises AUTH; for XOAUTH2 check the token's "
     "size against the server's line length limit.",
     NULL},
    {"501@auth", "SASL data refused",
     "The server could not decode the SASL data (501 5.5.2), or the "
     "exchange was cancelled, which the agent does with * when it cannot "
     "answer a challenge.",
     "Seen when the server's challenge or the agent's answer is not valid "
     "base64, or a mechanism's steps differ from what the agent expects.",
     "Try another mechanism that the server advertises and check the "
     "server's log; a proxy that rewrites SMTP lines can cause it too.",
     NULL},
    {"502@auth", "AUTH not implemented",
     "The server does not implement SMTP AUTH on this service.",
     "Seen on a relay port (25) without SASL, or on a server whose SASL "
     "support is switched off.",
     "Point the target at the submission service (port 587 or 465) or "
     "enable SASL on the server.",
     "502 says there is no AUTH here at all; 503 says AUTH is not enabled "
     "on this connection yet; 504 says the mechanism is unknown."},
    {"503@auth", "AUTH not available on this connection",
     "The server will not take AUTH at this point: AUTH is not enabled on "
     "this connection, or the session is already authenticated.",
     "Seen with Postfix (503 5.5.1 Error: authentication not enabled) "
     "when AUTH comes before STARTTLS or SASL is off, so also with tls = "
     "none against servers that offer AUTH only over TLS.",
     "Use tls = starttls or tls = implicit so that AUTH follows TLS, and "
     "check that the server advertises AUTH after TLS (Postfix "
     "smtpd_sasl_auth_enable, smtpd_tls_auth_only).",
     "503 says AUTH is not available on this connection at all; 530 and "
     "538 say encryption must come first; 504 says the mechanism is "
     "unknown; 535 says the credentials were checked and refused."},
    {"504@auth", "Mechanism not supported",
     "The server does not implement the SASL mechanism named in AUTH (RFC "
     "4954 504, usually 5.5.4), so it never looked at the credentials.",
     "Seen when the target's mechanisms list a mechanism the server does "
     "not offer, e.g. aiosmtpd's 504 5.5.4 Unrecognized authentication "
     "type; Postfix answers the same case with 535 5.7.8 and no mechanism "
     "available.",
     "Check the EHLO capability list and use a mechanism it advertises, or "
     "enable this one in the server's SASL settings (Cyrus mech_list, "
     "Dovecot auth_mechanisms).",
     "504 means the mechanism is unknown and the password was never "
     "checked; 535 means the credentials were checked and refused; 534 "
     "means the mechanism is known but too weak for this account; 538 "
     "means the mechanism needs an encrypted connection first."},
    {"530@auth", "STARTTLS or authentication required first",
     "The server wants something first, usually STARTTLS (530 5.7.0 Must "
     "issue a STARTTLS command first); RFC 4954 uses 530 for "
     "authentication required on other commands.",
     "Seen when AUTH is sent over a connection without TLS.",
     "Use tls = starttls or tls = implicit for the target.",
     "530 says the whole session needs TLS first; 538 says only this "
     "mechanism needs TLS; 503 says AUTH is not enabled on this "
     "connection; 535 says the credentials were refused."},
    {"534@auth", "Mechanism too weak",
     "The server knows the mechanism but its policy does not allow it for "
     "this account (RFC 4954 534 5.7.9).",
     "Seen when a server requires stronger mechanisms for some or all "
     "users, often after a security policy change.",
     "Use another mechanism that the server advertises and the agent "
     "implements (PLAIN, LOGIN, CRAM-MD5, XOAUTH2), or change the server's "
     "policy for the probe account.",
     "534 means the mechanism is known but too weak for this account; 504 "
     "means it is not known at all; 538 means it would be allowed over "
     "TLS; 535 means the credentials themselves were refused."},
    {"535@auth", "Authentication credentials invalid",
     "The server ran the SASL exchange and refused the user name, "
     "password or token (RFC 4954 535 5.7.8): the probe account cannot "
     "log in.",
     "Seen after a password rotation, with an expired or locked account, "
     "a wrong user name form or an expired XOAUTH2 token; Postfix also "
     "answers 535 5.7.8 no mechanism available to a mechanism it does not "
     "offer.",
     "Compare the target's username and password_file (or password_env) "
     "with the account on the server and try a login by hand; if the "
     "reply says no mechanism available, fix the mechanism, not the "
     "password.",
     "535 is a refused login; 504 is a mechanism the server does not "
     "implement; 534 is a mechanism too weak for this account; 538 is a "
     "mechanism that needs TLS first; 454 is a backend that could not "
     "check the password at all, so the same login may work later."},
    {"538@auth", "Encryption required for this mechanism",
     "The server allows this mechanism only over an encrypted connection "
     "(RFC 4954 538 5.7.11); the password was not checked.",
     "Seen when a plaintext mechanism such as PLAIN or LOGIN is tried on a "
     "target with tls = none, e.g. aiosmtpd's 538 5.7.11 Encryption "
     "required for requested authentication mechanism.",
     "Use tls = starttls or tls = implicit for the target.",
     "538 means this mechanism needs TLS first; 530 means the whole "
     "session needs STARTTLS first; 534 means the mechanism is too weak "
     "even over TLS; 504 means the mechanism is unknown; 535 means the "
     "credentials were checked and refused."},

    /* ---- QUIT ------------------------------------------------------ */
    {"221@quit", "Closing",
     "The server acknowledged QUIT and closes the connection.",
     "Seen at the end of every healthy session.", "Nothing to do.", NULL},

    /* ---- any stage: 4xx and 5xx without an entry of their own -------- */
    {"421", "Service not available, closing",
     "The server closes the connection and will not do anything more now "
     "(421; 4.3.2 shutting down, 4.4.2 connection dropped, 4.7.0 a rate "
     "or connection limit).",
     "Seen during shutdowns and restarts, overload, too many connections "
     "from one client, or timeouts on the server's side.",
     "Check the server's load, its connection and rate limits and its log "
     "for the agent's address; a single 421 during a restart needs "
     "nothing.",
     NULL},
    {"450", "Action not taken, temporarily",
     "The server did not do it now for a temporary reason, such as a "
     "policy or lookup that failed (450).",
     "Seen mostly for mailboxes and greylisting; at the stages the agent "
     "probes it points at a temporary policy or lookup failure.",
     "Look in the server's log for the reason at the time of the probe; "
     "it should clear by itself.",
     NULL},
    {"451", "Local error in processing",
     "The server aborted the command because of a local error (451, often "
     "4.3.0).",
     "Seen when a lookup table, a milter, a policy service or the server's "
     "own configuration fails.",
     "Check the server's log for the failing component and fix it.", NULL},
    {"452", "Insufficient system storage",
     "The server lacks the resources to do it now (452), typically disk "
     "space or queue space.",
     "Seen when the mail server's disk or queue is full.",
     "Free disk space on the server or deal with its queue.", NULL},
    {"454", "Temporary failure of TLS or authentication",
     "The server could not do it now for a temporary reason (454 4.7.0): "
     "to STARTTLS it means TLS is unavailable, to AUTH that the "
     "authentication backend failed.",
     "Seen with unreadable certificates and with authentication backends "
     "that are down or slow.",
     "Check the server's TLS setup or its authentication backend, "
     "whichever the stage points at, and the server's log.",
     NULL},
    {"455", "Server unable to accommodate parameters",
     "The server cannot take the parameters of the command now (RFC 5321 "
     "455).",
     "Seen rarely, for MAIL and RCPT parameters; at the stages the agent "
     "probes it suggests a server or proxy fault.",
     "Check the server's log and any proxy between the agent and the "
     "server.",
     NULL},
    {"500", "Command not recognised",
     "The server did not recognise the command, or the line was too long "
     "(500).",
     "Seen when the server lacks the extension the command belongs to "
     "(EHLO, STARTTLS, AUTH) or a middlebox mangles commands.",
     "Check which commands the server advertises in EHLO and what sits "
     "between the agent and the server.",
     NULL},
    {"501", "Syntax error in parameters",
     "The server recognised the command but refused its arguments (501).",
     "Seen with a malformed EHLO name or SASL data that cannot be decoded.",
     "Check the target's ehlo_name and mechanisms, and the server's log "
     "for what it disliked.",
     NULL},
    {"502", "Command not implemented",
     "The server recognises the command but does not implement it (502).",
     "Seen from servers without ESMTP, without STARTTLS or without AUTH.",
     "Enable the feature on the server, or point the target at the "
     "service that has it (submission on port 587 or 465).",
     NULL},
    {"503", "Bad sequence of commands",
     "The server will not accept this command at this point of the "
     "dialogue (503).",
     "Seen when a command comes before the one it depends on, e.g. AUTH "
     "before STARTTLS on a server that offers AUTH only over TLS.",
     "Check the order the server expects (EHLO, STARTTLS, EHLO, AUTH) and "
     "the target's tls setting.",
     NULL},
    {"504", "Command parameter not implemented",
     "The server does not implement a parameter given with the command "
     "(RFC 5321 504).",
     "Seen when the agent uses a parameter or mechanism the server does "
     "not offer.",
     "Check the EHLO capability list and use a parameter or mechanism it "
     "advertises.",
     "504 means a parameter or mechanism is unknown; 501 means the "
     "arguments are malformed; 502 means the whole command is not "
     "implemented."},
    {"521", "Host does not accept mail",
     "The server says it does not accept mail at all (RFC 7504 521).",
     "Seen from hosts that run SMTP only to refuse it, such as retired "
     "servers.",
     "Point the target at the server that really handles the mail.", NULL},
    {"530", "Authentication or encryption required",
     "The server requires STARTTLS or AUTH before this command (530, "
     "usually 5.7.0).",
     "Seen when a command comes over a connection without TLS or before "
     "AUTH on a server that demands them.",
     "Use tls = starttls or tls = implicit, and configure mechanisms and "
     "credentials if the server requires AUTH.",
     NULL},
    {"534", "Mechanism too weak",
     "The server finds the authentication mechanism too weak for its "
     "policy (534 5.7.9).",
     "Seen in reply to AUTH; at any other stage it points at a server or "
     "proxy fault.",
     "Use a stronger mechanism that the server advertises.", NULL},
    {"535", "Authentication credentials invalid",
     "The server refused the credentials (535 5.7.8).",
     "Seen in reply to AUTH; at any other stage it points at a server or "
     "proxy fault.",
     "Check the target's username and password, and the server's log.", NULL},
    {"538", "Encryption required for the mechanism",
     "The server allows the mechanism only over an encrypted connection "
     "(538 5.7.11).",
     "Seen in reply to AUTH; at any other stage it points at a server or "
     "proxy fault.",
     "Use tls = starttls or tls = implicit for the target.", NULL},
    {"550", "Requested action not taken",
     "The server permanently refused the command, usually by policy (550, "
     "often 5.7.1).",
     "Seen when the agent's address, EHLO name or account is refused by "
     "the server's access rules.",
     "Read the reply text and check the server's access rules and log for "
     "the agent's address.",
     NULL},
    {"552", "Storage allocation exceeded",
     "The server refused for lack of storage or because of a size limit "
     "(552).",
     "Seen for messages over the SIZE limit; at the stages the agent "
     "probes it suggests a full disk or quota on the server.",
     "Check the server's disk space, quotas and log.", NULL},
    {"553", "Mailbox name not allowed",
     "The server refused a mailbox name (553).",
     "Seen for MAIL and RCPT addresses; at the stages the agent probes it "
     "suggests a server or proxy fault.",
     "Check the server's log and any proxy between the agent and the "
     "server.",
     NULL},
    {"554", "Transaction failed or no service",
     "The server refused permanently (554); as a greeting it means there "
     "is no SMTP service for this client.",
     "Seen when the agent's address is blocked by policy, or the server "
     "refuses the session outright.",
     "Read the reply text and check the server's access rules, blocklists "
     "and log for the agent's address.",
     NULL},
    {"555", "Parameters not recognised",
     "The server does not recognise or implement MAIL or RCPT parameters "
     "(555).",
     "Not expected at the stages the agent probes; it suggests a server or "
     "proxy fault.",
     "Check the server's log and any proxy between the agent and the "
     "server.",
     NULL},

    /* ---- classes (DESIGN.md) --------------------------------------- */
    {"success", "Success",
     "The server gave the reply that moves the dialogue on at that stage: "
     "220 greeting, 250 EHLO, 220 STARTTLS, 235 AUTH, 221 QUIT.",
     "Seen on every healthy probe.", "Nothing to do.", NULL},
    {"unsupported_parameter", "Parameter or mechanism not supported",
     "The server understood the command but does not implement the "
     "parameter given with it; in reply to AUTH this means the SASL "
     "mechanism is not supported (504).",
     "Seen when the probe tries a mechanism the server does not offer, "
     "or, rarely, when the server dislikes the EHLO name.",
     "Check the EHLO capability list and use a mechanism it advertises, or "
     "enable this one in the server's SASL settings (Cyrus mech_list, "
     "Dovecot auth_mechanisms).",
     "unsupported_parameter (504) means the mechanism is unknown and the "
     "password was never checked; auth_failed (535) means the credentials "
     "were refused; mechanism_too_weak (534) and encryption_required (538, "
     "530) mean the mechanism is known but not allowed here."},
    {"auth_failed", "Authentication failed",
     "The server checked the credentials and refused them (535, usually "
     "5.7.8): the account cannot log in.",
     "Seen after a password rotation, with an expired or locked account, a "
     "wrong user name or an expired token; Postfix also uses it for a "
     "mechanism it does not offer (no mechanism available).",
     "Compare the target's username and password_file (or password_env) "
     "with the account on the server and try a login by hand; if the "
     "reply says no mechanism available, fix the mechanism, not the "
     "password.",
     "auth_failed (535) is a refused login; unsupported_parameter (504) is "
     "an unknown mechanism; temporary_failure (454) is a backend that "
     "could not check the password, so the same login may work later."},
    {"mechanism_too_weak", "Mechanism too weak",
     "The server knows the SASL mechanism but its policy does not allow it "
     "for this account (534 5.7.9).",
     "Seen when a server requires stronger mechanisms for some or all "
     "users.",
     "Use another mechanism that the server advertises and the agent "
     "implements (PLAIN, LOGIN, CRAM-MD5, XOAUTH2), or change the server's "
     "policy for the probe account.",
     "mechanism_too_weak (534) is about the mechanism's strength; "
     "encryption_required (538) would allow it over TLS; "
     "unsupported_parameter (504) does not know it."},
    {"encryption_required", "Encryption required",
     "The server refuses to go on without an encrypted connection: 538 "
     "says the mechanism may only be used over TLS, 530 usually says "
     "STARTTLS must come first.",
     "Seen on targets with tls = none, or when a server wants TLS before "
     "AUTH.",
     "Use tls = starttls (ports 587 and 25) or tls = implicit (port 465) "
     "for the target.",
     "encryption_required (538, 530) wants TLS first and checked no "
     "password; bad_sequence (503) means AUTH is not enabled on this "
     "connection; auth_failed (535) means the credentials were refused."},
    {"temporary_failure", "Temporary failure",
     "The server could not do it now but may later: a transient condition "
     "such as a shutdown, overload, a rate limit or a backend that is down "
     "(any 4xx).",
     "Seen during server restarts and overload, and when the "
     "authentication backend fails (454 4.7.0 to AUTH).",
     "Look at the server's log around the time of the probe; if it "
     "persists, check the service or backend it names (SASL, LDAP, SQL, "
     "DNS).",
     "temporary_failure (4xx) may pass by itself; every 5xx class is a "
     "permanent refusal that needs a change somewhere."},
    {"syntax_error", "Syntax error",
     "The server could not parse the command or its arguments (500: "
     "unrecognised or too long, 501: bad arguments).",
     "Seen when the server does not know a command (no EHLO or no AUTH), "
     "refuses the EHLO name, or cannot decode SASL data.",
     "Check the stage and the reply text: at EHLO the target's ehlo_name, "
     "at AUTH the mechanism; a proxy that rewrites SMTP can cause it too.",
     NULL},
    {"bad_sequence", "Bad sequence of commands",
     "The server will not accept this command at this point of the "
     "dialogue (503).",
     "Seen when AUTH is sent but not enabled on the connection, e.g. "
     "Postfix's 503 5.5.1 Error: authentication not enabled before "
     "STARTTLS or without SASL.",
     "Check that the server advertises AUTH on this connection; use tls = "
     "starttls if it offers AUTH only after STARTTLS, or enable SASL on "
     "the server (Postfix smtpd_sasl_auth_enable).",
     "bad_sequence (503) means AUTH is not available on this connection; "
     "encryption_required (530, 538) means TLS must come first; "
     "not_implemented (502) means no AUTH at all."},
    {"not_implemented", "Command not implemented",
     "The server recognises the command but does not implement it (502).",
     "Seen from servers without ESMTP (EHLO), without STARTTLS or without "
     "AUTH.",
     "Enable the feature on the server (TLS, SASL), or point the target at "
     "the submission service (port 587 or 465) that has it.",
     NULL},
    {"rejected", "Rejected",
     "The server permanently refused the command or the client: a 5xx "
     "without a class of its own, such as 550 or 554.",
     "Seen when the server refuses this client by policy (a blocklist, an "
     "access list, a 554 greeting) or does not accept mail at all.",
     "Read the reply text and the server's log for the reason, and check "
     "its access rules for the agent's address and ehlo_name.",
     NULL},
    {"unexpected", "Unexpected reply",
     "The reply code is valid SMTP but does not belong at this stage: a "
     "positive reply other than the one expected, or a 334 challenge "
     "where a final reply was due.",
     "Seen with non-conforming servers, with proxies that answer on the "
     "server's behalf, or when client and server disagree on the "
     "dialogue.",
     "Compare the reply with what the stage expects (220 greeting, 250 "
     "EHLO, 220 STARTTLS, 235 AUTH, 221 QUIT) and test a session by hand "
     "(openssl s_client -starttls smtp).",
     NULL},

    /* ---- failures without a reply ---------------------------------- */
    {"dns", "Host name not resolved",
     "The agent could not resolve the target's host name, so it made no "
     "connection.",
     "Seen after a typo in host, a removed DNS record, or with a resolver "
     "that the agent's machine cannot reach.",
     "Check the target's host and resolve it on the agent's machine "
     "(getent hosts NAME); fix the record or the resolver.",
     NULL},
    {"connect", "Connection failed",
     "The TCP connection to the target's host and port was refused or "
     "could not be made.",
     "Seen when the server is down, listens on another port, or a firewall "
     "rejects the agent.",
     "Check that the SMTP service runs and listens on the configured port "
     "and that firewalls let the agent through (nc -vz HOST PORT on the "
     "agent's machine).",
     "connect means no TCP connection at all; timeout means something did "
     "not answer in time; closed means the server hung up after "
     "connecting."},
    {"timeout", "Timed out",
     "The probe did not finish within the target's timeout: a connection, "
     "a reply or a TLS handshake did not come in time.",
     "Seen with firewalls that drop packets, overloaded servers, slow "
     "authentication backends, greeting delays (postscreen) or tarpitting.",
     "Find the slow phase in smtp_probe_phase_duration_seconds or on the "
     "status page; fix the server or the network, or raise the target's "
     "timeout if the delay is expected.",
     NULL},
    {"tls_handshake", "TLS handshake failed",
     "The TLS handshake with the server failed before any certificate "
     "check: no protocol version or cipher in common, or the server broke "
     "off.",
     "Seen with servers limited to old TLS versions, with broken keys on "
     "the server, or with a plain-text port probed with tls = implicit.",
     "Check that tls matches the port (implicit for 465, starttls for 587 "
     "and 25) and test with openssl s_client; update the server's TLS "
     "settings if it only offers old protocols.",
     "tls_handshake means no TLS session came up; certificate means TLS "
     "came up but the certificate did not verify."},
    {"certificate", "Certificate does not verify",
     "The certificate chain presented by the server does not verify "
     "against the CA file, or does not match the expected name; with "
     "tls_verify = true the probe stops there.",
     "Seen with expired certificates, a missing intermediate, a "
     "self-signed or private CA certificate, or a host name that is not "
     "in the certificate.",
     "Check first expiry, chain and names with openssl s_client -starttls "
     "smtp -connect HOST:PORT -servername NAME; then fix the server's "
     "certificate, or give the target the right ca_file or server_name.",
     NULL},
    {"starttls_unavailable", "STARTTLS unavailable",
     "The target uses tls = starttls but the server did not offer "
     "STARTTLS or refused it, so the agent stopped before sending any "
     "credentials.",
     "Seen when TLS is off or broken on the server (no certificate "
     "loaded), after a configuration change, or when a firewall's SMTP "
     "inspection strips STARTTLS from EHLO.",
     "Check first the server's TLS settings and certificate files (Postfix "
     "smtpd_tls_security_level, smtpd_tls_cert_file), then anything on the "
     "path that rewrites SMTP.",
     "starttls_unavailable means TLS never started; tls_handshake means "
     "STARTTLS was accepted but the handshake failed; 454 to STARTTLS is "
     "the server saying TLS is off for the moment."},
    {"closed", "Connection closed",
     "The server closed or reset the connection before the reply the "
     "probe was waiting for.",
     "Seen when a server drops clients it dislikes, crashes, hits a "
     "connection limit, or a load balancer cuts the connection.",
     "Check the server's log for the agent's address at the time of the "
     "probe, and its connection and rate limits.",
     NULL},
    {"malformed", "Malformed reply",
     "The server sent something that is not a valid SMTP reply: a bad "
     "code, an over-long line, too many lines or mixed codes.",
     "Seen when the port runs another protocol (HTTP, POP3, TLS probed in "
     "clear text), or with a broken proxy in between.",
     "Check the target's host, port and tls, and look at what the port "
     "answers (openssl s_client or nc).",
     NULL},

    /* ---- any failure (SMTPProbeFailing quotes it) -------------------- */
    {"probe_failed", "Probe failed",
     "A probe did not get every expected reply: its stage says where it "
     "stopped, and the reply code with its class, or the error without a "
     "reply, says why.",
     "Seen whenever smtp_probe_success is 0.",
     "Look up the code, class or error with smtp-health-agent --explain or "
     "on the agent's status page, which also shows a note computed from "
     "the probe.",
     NULL},

    /* ---- a 535 that is not about the password -------------------------- */
    {"no_mechanism", "Mechanism not offered (535 no mechanism available)",
     "The server refused the SASL mechanism itself, before looking at any "
     "credentials: Postfix answers 535 5.7.8 no mechanism available to a "
     "mechanism it does not offer on this connection, where other servers "
     "answer 504.",
     "Seen when the target's mechanisms name one that EHLO did not "
     "advertise (XOAUTH2 or CRAM-MD5 against a Postfix whose SASL has no "
     "such plugin or does not list it), or when the server's SASL backend "
     "offers no mechanism at all.",
     "Use a mechanism from the EHLO capability list, or enable this one in "
     "the server's SASL settings (Cyrus mech_list, Dovecot "
     "auth_mechanisms); changing the password will not help.",
     "Counted as class auth_failed because the code is 535, but unlike a "
     "refused login the password was never checked; 504 is the same "
     "problem from servers that say so with the code."},

    /* ---- the refusal checks (smtp_check_success, SMTPCheckFailing) ---- */
    {"check_failed", "Refusal check failed",
     "A check the target configures failed: the server accepted what it "
     "must refuse (credentials before STARTTLS, relaying for strangers) or "
     "does not advertise an EHLO keyword it must; the server works, so "
     "smtp_probe_success stays 1.",
     "Seen as smtp_check_success 0 with check auth_before_tls, open_relay "
     "or ehlo, and as a failing card on the status page that quotes the "
     "reply.",
     "Look up the check's own entry (check_auth_before_tls, "
     "check_open_relay or check_ehlo) and change the server's "
     "configuration; smtp_check_reply_code and the status page show the "
     "reply it gave.",
     NULL},
    {"check_auth_before_tls", "Credentials accepted before STARTTLS",
     "The server took an AUTH command before STARTTLS and processed the "
     "credentials in clear: it did not answer 530 or 538 (encryption "
     "required) to the agent's dummy AUTH PLAIN, which it should never "
     "have read.",
     "Seen on a STARTTLS port that advertises AUTH before STARTTLS, e.g. "
     "Postfix with smtpd_tls_auth_only = no; a 535 counts too, since the "
     "password was checked.",
     "Make the server offer AUTH only over TLS: Postfix "
     "smtpd_tls_auth_only = yes, Exim auth_advertise_hosts limited to "
     "encrypted connections, aiosmtpd auth_require_tls = True.",
     "530 and 538 before STARTTLS pass the check; so does no AUTH in the "
     "first EHLO. 535 before STARTTLS means the server checked a password "
     "sent in clear."},
    {"check_open_relay", "Relaying for strangers accepted",
     "Without AUTH, the server accepted RCPT TO an outside address: it "
     "would relay mail for anyone who can reach it (an open relay).",
     "Seen when the server's relay rules let the agent's address through, "
     "e.g. Postfix with smtpd_relay_restrictions = permit, or mynetworks "
     "covering the agent.",
     "Refuse relaying for unauthenticated clients outside your networks: "
     "Postfix smtpd_relay_restrictions = permit_mynetworks, "
     "permit_sasl_authenticated, reject_unauth_destination, with "
     "mynetworks not covering the agent.",
     "A 5xx to RCPT (550, 554, 5.7.1 Relay access denied) passes; a 4xx "
     "fails too, since it only defers the decision. The agent never sends "
     "DATA: it ends with RSET and QUIT."},
    {"check_ehlo", "Required EHLO keywords missing",
     "The EHLO reply (after STARTTLS on a STARTTLS target) lacks a keyword "
     "that require_ehlo names, or advertises a SIZE below the required "
     "minimum.",
     "Seen after a server upgrade or a configuration change dropped an "
     "extension (PIPELINING, SMTPUTF8, 8BITMIME) or lowered the message "
     "size limit.",
     "Enable the extension on the server again, or raise its message size "
     "limit (Postfix message_size_limit); change require_ehlo if the "
     "requirement itself changed.",
     "SIZE 0 advertises no fixed limit and meets any SIZE>=N."},

    /* ---- enhanced status codes (RFC 3463, RFC 4954, RFC 5248) ---------- */
    {"2.0.0", "Success",
     "Enhanced status 2.0.0: the command succeeded, with nothing more "
     "specific to say.",
     "Seen with 220, 221 and 250 replies.", "Nothing to do.", NULL},
    {"2.7.0", "Authentication succeeded",
     "Enhanced status 2.7.0: authentication succeeded (RFC 4954).",
     "Seen with 235 in reply to AUTH.", "Nothing to do.", NULL},
    {"4.3.0", "Temporary mail system problem",
     "Enhanced status 4.3.0: a temporary problem in the mail system, such "
     "as a failed lookup or a configuration error (RFC 3463).",
     "Seen with 421 and 451 when a table, milter or policy service fails.",
     "Check the server's log for the failing component.", NULL},
    {"4.3.2", "System not accepting network messages",
     "Enhanced status 4.3.2: the server is shutting down or paused and "
     "takes no sessions now (RFC 3463).",
     "Seen with 421 during restarts and maintenance.",
     "Wait for the restart to finish; if it lasts, check why the server "
     "stays paused.",
     NULL},
    {"4.4.2", "Bad connection",
     "Enhanced status 4.4.2: the connection was dropped or timed out on "
     "the server's side (RFC 3463).",
     "Seen with 421 when the server gave up on the session.",
     "Check the network between the agent and the server and the server's "
     "timeouts.",
     NULL},
    {"4.7.0", "Temporary security failure",
     "Enhanced status 4.7.0: a temporary security or policy failure; with "
     "454 to AUTH the authentication backend failed, with 454 to STARTTLS "
     "TLS is unavailable, with 421 a limit was hit.",
     "Seen with 454 and 421.",
     "Check the server's authentication backend or TLS setup, whichever "
     "the stage points at, and its log.",
     "4.7.0 may pass by itself; 5.7.8 is a refused login; 5.7.0 is a "
     "permanent security refusal."},
    {"4.7.1", "Temporarily not authorized",
     "Enhanced status 4.7.1: policy defers this client for now, e.g. "
     "greylisting, a rate limit or a policy lookup that failed.",
     "Seen with 421 and 450.",
     "Check the server's policy services and rate limits for the agent's "
     "address.",
     NULL},
    {"4.7.12", "Password transition needed",
     "Enhanced status 4.7.12: the account must log in once with PLAIN "
     "before it can use the mechanism tried (RFC 4954).",
     "Seen with 432 in reply to AUTH.",
     "Log in once with PLAIN over TLS as this account; the mechanism then "
     "works in later sessions.",
     NULL},
    {"5.5.1", "Invalid command",
     "Enhanced status 5.5.1: the command is not valid at this point or "
     "not known (RFC 3463).",
     "Seen with 503 and 500; Postfix answers AUTH before STARTTLS with 503 "
     "5.5.1 Error: authentication not enabled.",
     "Check that the server advertises the command on this connection; "
     "for AUTH use tls = starttls or tls = implicit.",
     NULL},
    {"5.5.2", "Syntax error",
     "Enhanced status 5.5.2: the command's syntax is wrong; in reply to "
     "AUTH the SASL data usually could not be base64-decoded.",
     "Seen with 501 and 500.",
     "Try another mechanism that the server advertises and check the "
     "server's log.",
     NULL},
    {"5.5.4", "Invalid command arguments",
     "Enhanced status 5.5.4: the command's arguments are not valid; in "
     "reply to AUTH it comes with 504 for an unrecognised mechanism.",
     "Seen with 504 and 501.",
     "Check the EHLO capability list and use a mechanism it advertises.",
     "5.5.4 means the mechanism is unknown; 5.7.8 means the credentials "
     "were refused; 5.7.9 means the mechanism is too weak."},
    {"5.5.6", "Authentication exchange line too long",
     "Enhanced status 5.5.6: a SASL response was longer than the server "
     "accepts for this mechanism (RFC 4954).",
     "Seen with 500 in reply to AUTH, mostly with long XOAUTH2 tokens.",
     "Check the token's size against the server's line length limit, or "
     "use another mechanism.",
     NULL},
    {"5.7.0", "Security policy refusal",
     "Enhanced status 5.7.0: refused for a security or policy reason "
     "without more detail; with 530 it means STARTTLS or authentication "
     "is required first.",
     "Seen with 530, and with 501 when an AUTH exchange was cancelled.",
     "Use tls = starttls or tls = implicit, and check the server's log for "
     "the policy that refused the agent.",
     NULL},
    {"5.7.1", "Not authorized",
     "Enhanced status 5.7.1: the client is not allowed to do this by "
     "policy, such as a blocked address or relaying denied.",
     "Seen with 550 and 554.",
     "Check the server's access rules and blocklists for the agent's "
     "address.",
     NULL},
    {"5.7.4", "Security feature not supported",
     "Enhanced status 5.7.4: the server does not support the security "
     "feature asked for, such as TLS (RFC 3463).",
     "Seen with 502 or 504 to STARTTLS on servers without TLS.",
     "Enable TLS on the server, or probe a port that offers it.", NULL},
    {"5.7.8", "Authentication credentials invalid",
     "Enhanced status 5.7.8: the credentials were refused (RFC 4954).",
     "Seen with 535 in reply to AUTH; Postfix also sends 535 5.7.8 with no "
     "mechanism available for a mechanism it does not offer.",
     "Compare the target's username and password with the account on the "
     "server; if the text says no mechanism available, fix the mechanism "
     "instead.",
     "5.7.8 is a refused login (or, from Postfix, an unknown mechanism); "
     "5.5.4 is an unknown mechanism; 5.7.9 a mechanism too weak; 5.7.11 a "
     "mechanism that needs TLS; 4.7.0 a backend that could not check."},
    {"5.7.9", "Mechanism too weak",
     "Enhanced status 5.7.9: the mechanism is weaker than the server's "
     "policy allows for this account (RFC 4954).",
     "Seen with 534 in reply to AUTH.",
     "Use a stronger mechanism that the server advertises.", NULL},
    {"5.7.10", "Encryption needed",
     "Enhanced status 5.7.10: an encrypted connection is needed before "
     "this plaintext mechanism can be used (RFC 5248).",
     "Seen in reply to AUTH over a connection without TLS.",
     "Use tls = starttls or tls = implicit for the target.", NULL},
    {"5.7.11", "Encryption required for the mechanism",
     "Enhanced status 5.7.11: the mechanism may only be used over an "
     "encrypted connection (RFC 4954).",
     "Seen with 538 in reply to AUTH, e.g. from aiosmtpd on a connection "
     "without TLS.",
     "Use tls = starttls or tls = implicit for the target.", NULL},

    /* ---- the bearer token (stage token) ------------------------------ */
    {"token", "No bearer token",
     "The agent had no OAuth2 bearer token to send with XOAUTH2 or "
     "OAUTHBEARER, so it did not connect: the target's token_file could "
     "not be read or is not a token, or the token endpoint of the agent's "
     "OAuth2 client refused or failed (the detail gives its HTTP status "
     "and OAuth error code).",
     "Seen when the external refresher that writes token_file has stopped "
     "or lost its rights, before it wrote the file the first time, and "
     "when the token endpoint is down or refuses the client's "
     "credentials, its refresh token or its scope.",
     "Check the process that writes token_file and the file's path, owner "
     "and mode; for the built-in client, check client_id, the client "
     "secret, the refresh token and the scope against the provider's app "
     "registration; the OAuth error code (invalid_client, invalid_grant, "
     "invalid_scope) names the part that is wrong.",
     "A token failure says nothing of the SMTP server, which was not "
     "contacted; a token that the server refuses is an AUTH failure "
     "(535, with the OAuth error status in the note)."},

    /* ---- hosted providers: a reply code with its enhanced code ------ */
    {"535 5.7.139", "Microsoft 365: authentication unsuccessful",
     "Microsoft 365 refused the login before checking a password or token "
     "in detail: SMTP AUTH (authenticated client submission) is disabled "
     "for the tenant or the mailbox, basic authentication is blocked, or "
     "a sign-in policy (security defaults, Conditional Access, MFA) "
     "rejected the account.",
     "Seen on smtp.office365.com when SmtpClientAuthenticationDisabled is "
     "true for the organisation or the mailbox, with basic authentication "
     "after its retirement, and when the account's sign-in is blocked; the "
     "text after the code names which.",
     "Enable Authenticated SMTP for the mailbox (Microsoft 365 admin "
     "center, or Set-CASMailbox -SmtpClientAuthenticationDisabled $false) "
     "and check the tenant's setting and sign-in policies; move the "
     "target to XOAUTH2 with a token from the Microsoft identity platform.",
     "5.7.139 is the account's or tenant's policy; 5.7.3 is a credential "
     "or token that did not verify; 550 5.7.30 says basic authentication "
     "is not supported at all."},
    {"550 5.7.30", "Microsoft 365: basic authentication not supported",
     "Microsoft 365 does not accept a user name and password for client "
     "submission on this account or tenant any more: only OAuth2 "
     "(XOAUTH2) is allowed.",
     "Seen with PLAIN or LOGIN once Microsoft retired basic "
     "authentication for SMTP AUTH in the tenant.",
     "Switch the target to mechanisms = XOAUTH2 with token_file or the "
     "agent's OAuth2 client (token_url, client_id, client_secret_file, "
     "scope https://outlook.office365.com/.default).",
     "550 5.7.30 refuses the mechanism family for good; 535 5.7.139 may "
     "also be a mailbox or policy setting; 535 5.7.3 is a refused "
     "credential."},
    {"535 5.7.3", "Microsoft 365: authentication unsuccessful",
     "Microsoft 365 checked the credentials or the token and refused "
     "them: a wrong password, an expired or revoked token, a token for "
     "another audience or scope, or an application without the mailbox "
     "permission.",
     "Seen on smtp.office365.com after a password change, with an access "
     "token past its hour, with a token whose scope is not "
     "https://outlook.office365.com/.default (or SMTP.Send), and when the "
     "app's service principal has no SendAs or FullAccess on the mailbox.",
     "Check that token_file is refreshed (or the agent's OAuth2 client "
     "works), the scope, and that the app registration's service "
     "principal is granted the mailbox (Add-MailboxPermission); for "
     "basic authentication, the password.",
     "5.7.3 is a credential that did not verify; 5.7.139 is a policy that "
     "did not let the account try."},
    {"534 5.7.9", "Gmail: application-specific password required",
     "Gmail refused the account's own password: the account has 2-Step "
     "Verification, so a password login needs an app password, or OAuth2.",
     "Seen on smtp.gmail.com with PLAIN or LOGIN and the account's normal "
     "password.",
     "Use XOAUTH2 or OAUTHBEARER with a token (the refresh_token grant, "
     "scope https://mail.google.com/), or an app password as the "
     "target's secret where the account may still use one.",
     "534 5.7.9 asks for another kind of credential; 535 5.7.8 says the "
     "credential given was not accepted."},
    {"535 5.7.8", "Gmail: username and password not accepted",
     "Gmail did not accept the credentials: a wrong user or password, an "
     "app password that was revoked, or an OAuth2 token that is invalid, "
     "expired or lacks the mail scope (with XOAUTH2 the 334 before it "
     "carried the error's status, in the note).",
     "Seen on smtp.gmail.com after a password change, when the refresh "
     "token was revoked or expired (a test-mode consent screen expires "
     "them after 7 days), and with a token for another scope.",
     "For OAuth2, check the token's scope is https://mail.google.com/ and "
     "that the refresh token still works; for passwords, the user name "
     "(the whole address) and the app password.",
     "535 5.7.8 is a refused credential; 534 5.7.9 asks for an app "
     "password or OAuth2; 454 4.7.0 is a temporary lock."},
    {"454 4.7.0", "Gmail: too many login attempts",
     "Gmail refuses logins for now: too many attempts for this account or "
     "from this address (Too many login attempts, please try again "
     "later).",
     "Seen on smtp.gmail.com after a run of failed logins (an old "
     "password in several places, probes too frequent).",
     "Stop whatever else logs in with wrong credentials, lengthen the "
     "target's interval, and wait; it clears by itself.",
     "454 4.7.0 is temporary and the next probe may pass; 535 is a "
     "refused credential."},
    {"530 5.7.57", "Microsoft 365: client not authenticated to send",
     "Microsoft 365 refused to take mail because the session did not "
     "authenticate: AUTH failed or was never sent.",
     "Seen on smtp.office365.com when MAIL FROM comes without a "
     "successful AUTH, typically after AUTH was refused by policy.",
     "Make AUTH succeed first (the entries 535 5.7.139 and 535 5.7.3), "
     "with the mailbox's Authenticated SMTP enabled.",
     "5.7.57 follows a missing or failed AUTH; the AUTH reply before it "
     "says why."},
};

#define N_ENTRIES (sizeof(entries) / sizeof(entries[0]))

static bool enhanced_valid(const char *s);

const struct catalogue_entry *catalogue_find(const char *key)
{
    for (size_t i = 0; i < N_ENTRIES; i++)
        if (strcasecmp(entries[i].key, key) == 0)
            return &entries[i];
    return NULL;
}

size_t catalogue_count(void)
{
    return N_ENTRIES;
}

const struct catalogue_entry *catalogue_at(size_t i)
{
    return i < N_ENTRIES ? &entries[i] : NULL;
}

const struct catalogue_entry *catalogue_code(enum probe_stage stage, int code)
{
    char key[32];
    const struct catalogue_entry *e;
    if ((int)stage >= 0 && stage < PROBE_STAGE_COUNT) {
        snprintf(key, sizeof(key), "%d@%s", code, probe_stage_name(stage));
        e = catalogue_find(key);
        if (e)
            return e;
    }
    /* A 2xx or 3xx is right at one stage only: elsewhere its class
     * (unexpected) says more than a general entry could. */
    if (code >= 400 && code <= 599) {
        snprintf(key, sizeof(key), "%d", code);
        e = catalogue_find(key);
        if (e)
            return e;
    }
    return catalogue_class(classify_reply(stage, code));
}

/*
 * The "NNN d.d.d" pairs that other servers send too, with the words of
 * the provider's reply that make the pair its entry (case-insensitive):
 * Postfix's 535 5.7.8 is not Gmail's.
 */
static const struct {
    const char *key, *says;
} pair_words[] = {
    {"534 5.7.9", "Application-specific password required"},
    {"535 5.7.8", "Username and Password not accepted"},
    {"454 4.7.0", "Too many login attempts"},
};

const struct catalogue_entry *catalogue_reply(enum probe_stage stage, int code,
                                              const char *enhanced,
                                              const char *text)
{
    if (enhanced && enhanced_valid(enhanced)) {
        char key[32];
        snprintf(key, sizeof(key), "%d %s", code, enhanced);
        const struct catalogue_entry *e = catalogue_find(key);
        for (size_t i = 0; e && i < sizeof pair_words / sizeof *pair_words;
             i++)
            if (strcmp(pair_words[i].key, key) == 0 &&
                !(text && strcasestr(text, pair_words[i].says)))
                e = NULL;
        if (e)
            return e;
    }
    return catalogue_code(stage, code);
}

const struct catalogue_entry *catalogue_class(enum smtp_class cls)
{
    if ((int)cls < 0 || cls >= SMTP_CLASS_COUNT)
        return NULL;
    return catalogue_find(smtp_class_name(cls));
}

const struct catalogue_entry *catalogue_error(enum probe_error error)
{
    if ((int)error <= PROBE_ERROR_NONE || error >= PROBE_ERROR_COUNT)
        return NULL;
    return catalogue_find(probe_error_name(error));
}

/* "d.d{1,3}.d{1,3}" with a class digit of 2, 4 or 5 (RFC 3463). */
static bool enhanced_valid(const char *s)
{
    if (!s || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return false;
    s += 2;
    for (int part = 0; part < 2; part++) {
        size_t n = 0;
        while (isdigit((unsigned char)s[n]))
            n++;
        if (n < 1 || n > 3)
            return false;
        s += n;
        if (part == 0 && *s++ != '.')
            return false;
    }
    return *s == '\0';
}

const struct catalogue_entry *catalogue_enhanced(const char *enhanced)
{
    return enhanced_valid(enhanced) ? catalogue_find(enhanced) : NULL;
}

/* A three-digit reply code 200..599, or -1. */
static int parse_code(const char *s, size_t len)
{
    if (len != 3)
        return -1;
    for (size_t i = 0; i < 3; i++)
        if (!isdigit((unsigned char)s[i]))
            return -1;
    int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    return code >= 200 && code <= 599 ? code : -1;
}

static size_t add_unique(const struct catalogue_entry **out, size_t n,
                         size_t cap, const struct catalogue_entry *e)
{
    for (size_t i = 0; i < n; i++)
        if (out[i] == e)
            return n;
    if (n < cap)
        out[n++] = e;
    return n;
}

size_t catalogue_lookup(const char *what, const struct catalogue_entry **out,
                        size_t cap)
{
    if (!what || !*what || cap == 0)
        return 0;
    const char *at = strchr(what, '@');
    if (at) {
        enum probe_stage stage;
        int code = parse_code(what, (size_t)(at - what));
        if (code < 0 || probe_stage_parse(at + 1, &stage) < 0)
            return 0;
        out[0] = catalogue_code(stage, code);
        return 1;
    }
    /* "535 5.7.139": a provider's pair, else the code alone. */
    if (strlen(what) > 4 && what[3] == ' ' && parse_code(what, 3) > 0 &&
        enhanced_valid(what + 4)) {
        const struct catalogue_entry *e = catalogue_find(what);
        if (!e)
            return 0;
        out[0] = e;
        return 1;
    }
    int code = parse_code(what, strlen(what));
    if (code > 0) {
        /* Every stage's own entry first, then what the other stages
         * share (the general entry or the class). */
        size_t n = 0;
        const struct catalogue_entry *shared[PROBE_STAGE_COUNT];
        size_t n_shared = 0;
        for (int s = 0; s < PROBE_STAGE_COUNT; s++) {
            enum probe_stage st = (enum probe_stage)s;
            if (classify_expected_code(st) == 0)
                continue; /* connect and tls have no reply of their own */
            const struct catalogue_entry *e = catalogue_code(st, code);
            const char *sep = strchr(e->key, '@');
            if (sep && strcmp(sep + 1, probe_stage_name(st)) == 0)
                n = add_unique(out, n, cap, e);
            else
                n_shared = add_unique(shared, n_shared, PROBE_STAGE_COUNT, e);
        }
        for (size_t i = 0; i < n_shared; i++)
            n = add_unique(out, n, cap, shared[i]);
        return n;
    }
    const struct catalogue_entry *e = NULL;
    enum smtp_class cls;
    enum probe_error err;
    if (enhanced_valid(what))
        e = catalogue_enhanced(what);
    else if (smtp_class_parse(what, &cls) == 0)
        e = catalogue_class(cls);
    else if (probe_error_parse(what, &err) == 0)
        e = catalogue_error(err);
    else if (!isdigit((unsigned char)what[0]))
        e = catalogue_find(what); /* the rest: "probe_failed" */
    if (!e)
        return 0;
    out[0] = e;
    return 1;
}
