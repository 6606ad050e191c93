/**
 * The shop as far as the gateway knows it (issue #9): a feature `shop` that operators switch
 * off and on (`opsctl event shop off|on`) and gate with flags. The gateway answers
 * `shopList` with this catalogue when the feature is enabled for the user, else with
 * `error RIFT_FEATURE_DISABLED`. Buying belongs to the game server that owns the user
 * (DESIGN §1: inventory and shop live in the field server) and is not built yet.
 */
export interface ShopItem {
  id: string;
  name: string;
  price: number;
}

export const SHOP_CATALOGUE: readonly ShopItem[] = [
  { id: "potion", name: "Healing potion", price: 10 },
  { id: "sword", name: "Iron sword", price: 120 },
];

/** Client request types that need a feature (checked before the request is handled). */
export const FEATURE_OF_REQUEST: Readonly<Record<string, string>> = {
  shopList: "shop",
  chat: "chat",
  whisper: "chat",
  chatJoin: "chat",
  chatLeave: "chat",
};

/** What a connection asks about features (an OpsState fits). */
export interface FeatureGate {
  /** Sorted features enabled for `userId` (undefined: before login) given the gateway's built-ins. */
  features(builtin: readonly string[], userId?: number): string[];
  enabled(feature: string, builtin: readonly string[], userId?: number): boolean;
}
