from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Enum, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base
from models.status import Role

if TYPE_CHECKING:
    from models.items import Item


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(128), default="")
    department: Mapped[str] = mapped_column(String(128), default="")
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )

    owned_items: Mapped[list[Item]] = relationship(back_populates="owner", foreign_keys="Item.owner_id")
    led_items: Mapped[list[Item]] = relationship(back_populates="leader", foreign_keys="Item.leader_id")

    def __repr__(self) -> str:
        return f"Person({self.name!r}, {self.role.value})"
