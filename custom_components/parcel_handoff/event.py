"""The journey event entity: fires on every stage change and on the handoff.

A shipment's first answer is a baseline, taken silently; a change the coordinator
recorded as new in a refresh fires, once. What the refresh at start-up finds beyond the
stored state (the parcel moved while Home Assistant was down) fires once Home Assistant
has started, so that automations are listening. Each one also goes on
the event bus as `parcel_handoff_journey`, which the logbook describes in words
("was handed to USPS under 9400…"): an event entity's own logbook line only says that
it detected an event, and a handoff fired in the same instant as its stage change
would leave no line of its own.
"""

from __future__ import annotations

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.start import async_at_started

from .const import DOMAIN, EVENT_HANDOFF
from .coordinator import ParcelHandoffConfigEntry, ParcelHandoffCoordinator
from .entity import ParcelHandoffEntity, async_add_shipment_entities
from .tracking.model import Stage

PARALLEL_UPDATES = 0

# Fired on the bus for each journey event (the logbook describes it; automations may use it).
EVENT_JOURNEY = f"{DOMAIN}_journey"

EVENT_TYPES: list[str] = [*(stage.value for stage in Stage), EVENT_HANDOFF]

JOURNEY = EventEntityDescription(
    key="journey",
    translation_key="journey",
    event_types=EVENT_TYPES,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ParcelHandoffConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the journey event entity of every shipment."""
    coordinator = entry.runtime_data
    async_add_shipment_entities(
        entry,
        async_add_entities,
        lambda subentry_id: (ParcelHandoffJourneyEvent(coordinator, subentry_id, JOURNEY),),
    )


class ParcelHandoffJourneyEvent(ParcelHandoffEntity, EventEntity):
    """Stage changes and the handoff of one shipment, as events."""

    def __init__(
        self,
        coordinator: ParcelHandoffCoordinator,
        subentry_id: str,
        description: EventEntityDescription,
    ) -> None:
        """Start after the newest change fired for this shipment (none: from the first)."""
        super().__init__(coordinator, subentry_id, description)
        self._last_serial = coordinator.fired_serials.get(subentry_id, 0)
        self._started = False

    async def async_added_to_hass(self) -> None:
        """Fire what the start-up refresh found once Home Assistant has started."""
        await super().async_added_to_hass()
        self.async_on_remove(async_at_started(self.hass, self._async_started))

    @callback
    def _async_started(self, _hass: HomeAssistant) -> None:
        self._started = True
        self._fire_announcements()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Fire each change of this shipment the last refresh announced, once."""
        if self._started:
            self._fire_announcements()
        super()._handle_coordinator_update()

    @callback
    def _fire_announcements(self) -> None:
        """Each event is written on its own: a handoff and the stage change it brings
        arrive in one refresh, and both must reach automations."""
        for announcement in self.coordinator.announcements:
            if (
                announcement.shipment_id != self.subentry_id
                or announcement.serial <= self._last_serial
            ):
                continue
            self._last_serial = announcement.serial
            self.coordinator.fired_serials[self.subentry_id] = announcement.serial
            attributes = {
                "previous_stage": announcement.previous_stage.value
                if announcement.previous_stage is not None
                else None,
                "stage": announcement.stage.value,
                "description": announcement.description,
                "carrier": announcement.carrier,
                "tracking_number": announcement.tracking_number,
                "local_tracking_number": announcement.local_tracking_number,
            }
            self._trigger_event(announcement.event_type, attributes)
            self.async_write_ha_state()
            state = self.shipment_state
            self.hass.bus.async_fire(
                EVENT_JOURNEY,
                {
                    "entity_id": self.entity_id,
                    "name": state.config.title if state is not None else None,
                    "event_type": announcement.event_type,
                    **attributes,
                },
            )
