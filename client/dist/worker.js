import{serveTabs as e}from"./index.js";e(self);
