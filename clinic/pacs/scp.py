"""The clinic's DICOM node: a C-STORE and C-ECHO SCP that files what the PACS pushes.

It runs as its own process (``manage.py dicom_listen``). A sender is checked three times:

1. by address, before a byte of DICOM is read (``verify_request``): the address must belong to
   a peer the clinic admin configured, and a peer holds at most DICOM_MAX_ASSOCIATIONS_PER_PEER
   associations at once (a flood from one peer cannot starve the others);
2. by calling AE title *for that address*, at negotiation: anything else gets an
   A-ASSOCIATE-RJ "calling AE title not recognised" (PS3.8 9.3.4, result 1, source 1, reason 3),
   and so does a called AE title other than the node's own;
3. by size while it sends: pynetdicom assembles an instance in memory (never on disk) before our
   handler sees it, so a PDU above the negotiated maximum, or more than DICOM_MAX_INSTANCE_BYTES
   for one instance, ends the association and nothing of it is kept.

Each complete instance goes through ``receiving.receive_instance`` (intake checks, vault);
associations and refusals are audited with ids and hashes only.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import socketserver
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.acse import ACSE
from pynetdicom.association import Association
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import AssociationSocket, RequestHandler, ThreadedAssociationServer

from audit.actions import AuditAction
from audit.log import append as audit
from clinic.pacs.models import AllowedPeer, DicomNode, Source
from clinic.pacs.receiving import InstanceRefused, receive_instance

log = logging.getLogger(__name__)
# pynetdicom describes requests at INFO and dumps datasets at DEBUG: patient data never goes to
# the logs, so only its warnings and errors (about the protocol, never content) are kept.
logging.getLogger("pynetdicom").setLevel(logging.WARNING)

# C-STORE statuses (PS3.4 Table B.2-1).
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000
# The A-ASSOCIATE-RQ of a sender proposing every storage class is a few tens of KiB.
NEGOTIATION_BYTES = 64 * 1024


@dataclass(frozen=True)
class NodeConfig:
    """What the node enforces; read from the clinic admin's settings at every connection."""

    ae_title: str
    peers: dict[str, dict[str, int]]  # address -> {calling AE title: peer id}
    max_pdu: int
    max_instance_bytes: int
    max_associations: int
    max_per_peer: int
    timeout: int


def load_config() -> NodeConfig:
    node = DicomNode.objects.filter(pk=DicomNode.SINGLETON_PK).first()
    peers: dict[str, dict[str, int]] = {}
    for peer in AllowedPeer.objects.all():
        peers.setdefault(peer.address, {})[peer.ae_title.strip()] = peer.pk
    return NodeConfig(
        ae_title=node.ae_title if node else DicomNode._meta.get_field("ae_title").default,
        peers=peers,
        max_pdu=settings.DICOM_MAX_PDU,
        max_instance_bytes=settings.DICOM_MAX_INSTANCE_BYTES,
        max_associations=settings.DICOM_MAX_ASSOCIATIONS,
        max_per_peer=settings.DICOM_MAX_ASSOCIATIONS_PER_PEER,
        timeout=settings.DICOM_TIMEOUT_SECONDS,
    )


def address_hash(address: str) -> str:
    return hashlib.sha256(address.encode()).hexdigest()[:32]


def refused(reason: str, address: str, peer: int | None = None) -> None:
    """Audit a refusal (the address only as a hash); never lets an audit failure propagate
    into the network thread, which must still close the connection."""
    try:
        audit(
            AuditAction.DICOM_REFUSED,
            actor="system",
            object_type="dicom_peer" if peer else "",
            object_id=str(peer) if peer else "",
            details={"reason": reason, "address_sha256": address_hash(address)},
        )
    except Exception:  # the refusal itself must still happen
        log.exception("could not audit a DICOM refusal")
    finally:
        # Refusals happen in short-lived network threads: none keeps a database connection.
        connection.close()


@dataclass
class Session:
    """One accepted association's tally, audited when its connection closes."""

    address: str
    peer: int | None = None
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    studies: set[str] = field(default_factory=set)


class _BoundedSocket(AssociationSocket):
    """A socket that ends the association when the peer sends more than the node accepts."""

    config: NodeConfig
    address: str
    pending: int  # bytes received since the last complete instance
    body_next: int | None  # the length of the PDU body to read next, after its header

    @classmethod
    def bound(cls, sock: AssociationSocket, config: NodeConfig, address: str) -> _BoundedSocket:
        # pynetdicom made the socket (and queued its connection event) already: we give it
        # this class rather than open a second one on the same connection.
        sock.__class__ = cls
        assert isinstance(sock, cls)
        sock.config, sock.address, sock.pending, sock.body_next = config, address, 0, None
        return sock

    def hang_up(self) -> None:
        if self.socket is not None:
            with contextlib.suppress(OSError):
                self.socket.shutdown(socket.SHUT_RDWR)

    def recv(self, nr_bytes: int) -> bytearray:
        # dul.py reads each PDU as its 6-byte header, then a body of the length it announces.
        if self.body_next is None:
            header = super().recv(nr_bytes)
            if len(header) == 6 and not 0x01 <= header[0] <= 0x07:
                # PS3.8 9.3: there are 7 PDU types. pynetdicom would answer with an A-ABORT and
                # then wait for the peer to hang up; a peer that speaks no DICOM is cut off now.
                refused("malformed_pdu", self.address)
                self.hang_up()
                raise OSError("not a DICOM PDU")
            self.body_next = int.from_bytes(header[2:6], "big") if len(header) == 6 else None
            return header
        self.body_next = None
        if nr_bytes > max(self.config.max_pdu, NEGOTIATION_BYTES) + 6:
            refused("pdu_too_large", self.address)
            # dul.py treats an OSError as a dropped transport (and so leaves the socket to the
            # peer to close): we close it, and the association ends here.
            self.hang_up()
            raise OSError("PDU larger than the node accepts")
        self.pending += nr_bytes
        if self.pending > self.config.max_instance_bytes + self.config.max_pdu:
            refused("instance_too_large", self.address)
            self.hang_up()
            raise OSError("instance larger than the node accepts")
        return super().recv(nr_bytes)


class _GatedACSE(ACSE):
    """Association negotiation that knows which calling AE titles this address may use."""

    def __init__(self, assoc: Association, titles: dict[str, int], address: str) -> None:
        super().__init__(assoc)
        self.titles = titles
        self.address = address

    def _negotiate_as_acceptor(self) -> None:
        calling = str(self.requestor.primitive.calling_ae_title).strip()  # type: ignore[union-attr]
        if calling not in self.titles:
            refused("ae_title", self.address)
            self.send_reject(0x01, 0x01, 0x03)
            evt.trigger(self.assoc, evt.EVT_REJECTED, {})
            self.assoc.kill()
            return
        super()._negotiate_as_acceptor()


class _Handler(RequestHandler):
    def _create_association(self) -> Association:
        assoc = super()._create_association()
        server = self.server
        assert isinstance(server, NodeServer)
        config = server.config
        address = str(self.client_address[0])
        assert assoc.dul.socket is not None
        _BoundedSocket.bound(assoc.dul.socket, config, address)
        assoc.acse = _GatedACSE(assoc, config.peers.get(address, {}), address)
        server.node.sessions[assoc] = Session(address=address)
        return assoc


class NodeServer(ThreadedAssociationServer):
    """pynetdicom's threaded server with the clinic's address check in front of it."""

    node: DicomListener
    config: NodeConfig

    def verify_request(self, request: Any, client_address: Any) -> bool:
        try:
            return self._admits(str(client_address[0]))
        except Exception:  # e.g. the database restarting: refuse, keep serving
            log.exception("could not read the DICOM node's settings; connection refused")
            return False
        finally:
            # This thread only serves the listening socket: hold no connection between peers.
            connection.close()

    def _admits(self, address: str) -> bool:
        self.config = config = load_config()
        self.ae_title = config.ae_title
        self.ae.maximum_associations = config.max_associations
        self.ae.maximum_pdu_size = config.max_pdu
        if address not in config.peers:
            refused("address", address)
            return False
        active = sum(
            1
            for assoc in self.ae.active_associations
            if assoc.is_acceptor and assoc.requestor.address == address
        )
        if active >= config.max_per_peer:
            refused("peer_limit", address)
            return False
        return True

    def shutdown(self) -> None:
        # pynetdicom's own shutdown also unregisters a server it started itself; this one it
        # did not start.
        socketserver.BaseServer.shutdown(self)
        self.server_close()


class DicomListener:
    """The node: bind, serve in a background thread or in the foreground, stop."""

    def __init__(self, bind: str, port: int) -> None:
        self.sessions: weakref.WeakKeyDictionary[Association, Session] = weakref.WeakKeyDictionary()
        config = load_config()
        self.ae = AE(ae_title=config.ae_title)
        self.ae.maximum_pdu_size = config.max_pdu
        self.ae.maximum_associations = config.max_associations
        self.ae.acse_timeout = config.timeout
        self.ae.dimse_timeout = config.timeout
        self.ae.network_timeout = config.timeout
        self.ae.require_called_aet = True
        self.ae.add_supported_context(Verification)
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                self.ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        handlers: list[evt.EventHandlerType] = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, lambda event: SUCCESS),
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_CONN_CLOSE, self._on_close),
        ]
        self.server = NodeServer(
            self.ae,
            (bind, port),
            config.ae_title,
            self.ae.supported_contexts,
            None,
            evt_handlers=handlers,
            request_handler=_Handler,
        )
        self.server.node = self
        self.server.config = config
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def start(self) -> DicomListener:
        self.thread = threading.Thread(target=self.serve_forever, name="dicom-node", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        open_now = self.ae.active_associations
        for assoc in open_now:
            assoc.abort()
        for assoc in open_now:
            assoc.join(timeout=10)
        if self.thread is not None:
            self.thread.join(timeout=10)

    # --- Event handlers (each runs in the association's own thread) ----------------------------

    def _session(self, event: evt.Event) -> Session:
        return self.sessions.setdefault(event.assoc, Session(address=""))

    def _on_accepted(self, event: evt.Event) -> None:
        session = self._session(event)
        acse = event.assoc.acse
        if isinstance(acse, _GatedACSE):
            calling = str(event.assoc.requestor.ae_title).strip()
            session.peer = acse.titles.get(calling)

    def _on_store(self, event: evt.Event) -> int:
        session = self._session(event)
        sock = event.assoc.dul.socket
        try:
            part10 = event.encoded_dataset(include_meta=True)
        except Exception:  # a request pynetdicom could not make sense of
            session.refused += 1
            return CANNOT_UNDERSTAND
        finally:
            if isinstance(sock, _BoundedSocket):
                sock.pending = 0
        try:
            received = receive_instance(part10, source=Source.DIMSE)
        except InstanceRefused as refusal:
            log.info("C-STORE refused: %s", refusal.reason)
            session.refused += 1
            return CANNOT_UNDERSTAND
        except Exception:  # e.g. the vault or database is down: the PACS retries
            log.exception("C-STORE could not be filed")
            session.refused += 1
            return OUT_OF_RESOURCES
        finally:
            # pynetdicom runs this handler in the association's thread but the connection's
            # close event in its transport thread: no thread may be left holding a connection.
            connection.close()
        session.studies.add(str(received.study.pk))
        if received.stored:
            session.stored += 1
        else:
            session.duplicates += 1
        return SUCCESS

    def _on_close(self, event: evt.Event) -> None:
        session = self.sessions.pop(event.assoc, None)
        try:
            if session is not None and session.peer is not None:
                audit(
                    AuditAction.DICOM_ASSOCIATION,
                    actor="system",
                    object_type="dicom_peer",
                    object_id=str(session.peer),
                    details={
                        "stored": session.stored,
                        "duplicates": session.duplicates,
                        "refused": session.refused,
                        "studies": sorted(session.studies)[:64],
                    },
                )
        except Exception:
            log.exception("could not audit a DICOM association")
        finally:
            connection.close()
